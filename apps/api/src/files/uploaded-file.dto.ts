import { ApiProperty, ApiPropertyOptional, ApiSchema } from '@nestjs/swagger';
import type { AvailableFile } from '@app/file-storage';

@ApiSchema({ name: 'UploadedFile', description: 'A stored file, as the upload answers it' })
export class UploadedFileDto {
  @ApiProperty({ example: '3fa85f64-5717-4562-b3fc-2c963f66afa6/5f0c6d2e9a8b4c7d1e2f3a4b5c6d7e8f.pdf', description: '`<orgId>/<fileId>.<ext>`' })
  key!: string;

  @ApiProperty({ example: 'application/pdf', description: 'The type detected from the content; store this in attachment.contentType' })
  contentType!: string;

  @ApiProperty({ example: 245760, description: 'Bytes' })
  size!: number;

  @ApiProperty({ example: '/files/3fa85f64-5717-4562-b3fc-2c963f66afa6/5f0c6d2e9a8b4c7d1e2f3a4b5c6d7e8f.pdf', description: 'Path to download the file; prefix it with the API origin' })
  url!: string;

  @ApiProperty({ example: 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855', description: 'Lower-case hex SHA-256 of the bytes' })
  sha256!: string;

  @ApiProperty({ example: 'lab-report.pdf', description: 'The uploaded file name, sanitised; used when downloading' })
  originalName!: string;

  @ApiProperty({ enum: ['not_scanned', 'clean'], description: 'Antivirus outcome; not_scanned when scanning is off' })
  scanStatus!: string;

  static from(file: AvailableFile): UploadedFileDto {
    const key = `${file.organizationId}/${file.fileName}`;
    return {
      key,
      contentType: file.contentType,
      size: file.size,
      url: `/files/${key}`,
      sha256: file.sha256,
      originalName: file.originalName,
      scanStatus: file.scanStatus,
    };
  }
}

@ApiSchema({ name: 'FileMetadata', description: 'A stored file, with when it was stored and what links it' })
export class FileMetadataDto extends UploadedFileDto {
  @ApiProperty({ example: '2026-11-29T21:30:01.123Z', format: 'date-time', description: 'When the upload completed' })
  createdAt!: string;

  @ApiProperty({
    type: [String],
    example: ['DocumentReference/5f0c6d2e-9a8b-4c7d-8e2f-3a4b5c6d7e8f'],
    description: 'The FHIR resources whose attachments link the file; while any does, DELETE answers 409',
  })
  linkedBy!: string[];

  static of(file: AvailableFile, linkedBy: readonly string[] = []): FileMetadataDto {
    return { ...UploadedFileDto.from(file), createdAt: file.createdAt.toISOString(), linkedBy: [...linkedBy] };
  }
}

@ApiSchema({ name: 'FileList', description: 'A page of the organization\'s files' })
export class FileListDto {
  @ApiProperty({ type: [FileMetadataDto], description: 'Available files of the organization, newest first' })
  files!: FileMetadataDto[];

  @ApiPropertyOptional({ example: '/files?limit=50&cursor=WyIyMDI2LTExLTI5IDIxOjMwOjAxLjEyMzQ1NiswMCIsIjVmMGMiXQ', description: 'The next page; absent on the last' })
  next?: string;
}
