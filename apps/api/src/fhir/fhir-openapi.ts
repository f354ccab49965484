import { applyDecorators } from '@nestjs/common';
import { ApiParam, ApiResponse } from '@nestjs/swagger';
import { SUPPORTED_RESOURCE_TYPES } from '@app/fhir';

export const FHIR_JSON = 'application/fhir+json; charset=utf-8';

export const TypeParam = () => ApiParam({ name: 'type', enum: SUPPORTED_RESOURCE_TYPES });

export const Outcomes = (...statuses: number[]) =>
  applyDecorators(...statuses.map((status) => ApiResponse({ status, description: 'OperationOutcome' })));
