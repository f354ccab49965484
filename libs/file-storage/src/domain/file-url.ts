import { FILE_ID } from './stored-file.js';

/** The organization and file a URL of this service's files names. */
export interface FileTarget {
  organizationId: string;
  fileName: string;
}

interface Base {
  /** Scheme, lower-case host and port (none when it is the scheme's default), as WHATWG URL normalises them. */
  origin: string;
  /** Path prefix the service is mounted under, without a trailing slash ('' at the root). */
  path: string;
}

const RELATIVE_BASE = 'http://relative.invalid';

/**
 * Recognises the URLs of this service's files (`/files/<orgId>/<fileName>`)
 * however they are spelled: relative, or absolute under any of the service's
 * base URLs, with the host in any case, the default port written out, dot
 * segments, percent-encoding, or `/FILES/` (routes are case-insensitive).
 * Every spelling a client could use to fetch a file must be recognised as
 * that file, or a link to it would be taken for an external one.
 */
export class FileUrls {
  private readonly bases: Base[];

  constructor(baseUrls: readonly string[]) {
    this.bases = baseUrls.filter((b) => URL.canParse(b)).map((b) => {
      const url = new URL(b);
      return { origin: url.origin, path: url.pathname.replace(/\/+$/, '') };
    });
  }

  /**
   * The file a URL names; 'malformed' for a URL under this service's `/files/`
   * that names no file (a missing or extra segment, a query, an encoded '/');
   * undefined for any other URL.
   */
  resolve(url: string): FileTarget | 'malformed' | undefined {
    const path = this.pathUnderBase(url);
    if (path === undefined) return undefined;
    const raw = path.split('/');
    let segments: string[];
    try {
      segments = raw.map(decodeURIComponent);
    } catch {
      return /^\/files\//i.test(path) ? 'malformed' : undefined;
    }
    if (segments[0] !== '' || segments[1]?.toLowerCase() !== 'files') return undefined;
    const parsed = URL.canParse(url, RELATIVE_BASE) ? new URL(url, RELATIVE_BASE) : undefined;
    if (segments.length !== 4 || segments.slice(2).some((s) => s === '' || s.includes('/')) || parsed?.search || parsed?.hash) {
      return 'malformed';
    }
    return { organizationId: segments[2]!, fileName: segments[3]! };
  }

  /**
   * The id of the Binary a URL names, FHIR's way of naming a stored file: `Binary/<id>` (relative to the
   * FHIR base, as FHIR references are), `/fhir/Binary/<id>`, or that path under one of the service's base
   * URLs, spelled in any of the ways resolve() accepts (a trailing slash too, as the route takes it).
   * 'malformed' for any other URL under the FHIR base's `Binary/` (an id that is no file's, a query, a
   * version): a link to it must be refused, never taken for an external one. Undefined otherwise.
   */
  binaryId(url: string): string | 'malformed' | undefined {
    const relative = /^(?:\.\/)?Binary\/(.*)$/s.exec(url);
    let id: string | undefined;
    if (relative) {
      id = relative[1];
    } else {
      const path = this.pathUnderBase(url);
      if (path === undefined || !/^\/fhir\/binary(?:\/|$)/i.test(path)) return undefined;
      const parsed = URL.canParse(url, RELATIVE_BASE) ? new URL(url, RELATIVE_BASE) : undefined;
      if (parsed?.search || parsed?.hash) return 'malformed';
      id = path.slice('/fhir/Binary/'.length).replace(/\/$/, '');
    }
    try {
      id = decodeURIComponent(id ?? '');
    } catch {
      return 'malformed';
    }
    return FILE_ID.test(id) ? id : 'malformed';
  }

  /**
   * The id a Binary URL under a base this service does not know ends with
   * (`https://old-host.example/api/fhir/Binary/<id>`): how this service's own
   * Binaries read under an earlier PUBLIC_BASE_URL, or another Host, and come
   * back on a save. Undefined for anything else. The caller decides whether
   * the id is one of the organization's Binaries (ids are 128 random bits) or
   * the URL stays an external one.
   */
  binaryIdElsewhere(url: string): string | undefined {
    if (!/^https?:\/\//i.test(url) || !URL.canParse(url) || this.pathUnderBase(url) !== undefined) return undefined;
    const parsed = new URL(url);
    if (parsed.search || parsed.hash) return undefined;
    return /\/fhir\/Binary\/([0-9a-f]{32})\/?$/i.exec(parsed.pathname)?.[1]?.toLowerCase();
  }

  /** The path, dot segments resolved, of a relative URL or of an absolute one under a base; undefined otherwise. */
  private pathUnderBase(url: string): string | undefined {
    if (url.startsWith('/') && !url.startsWith('//')) {
      return URL.canParse(url, RELATIVE_BASE) ? new URL(url, RELATIVE_BASE).pathname : undefined;
    }
    if (!URL.canParse(url)) return undefined;
    const parsed = new URL(url);
    const base = this.bases.find(
      (b) => b.origin === parsed.origin && (b.path === '' || parsed.pathname === b.path || parsed.pathname.startsWith(`${b.path}/`)),
    );
    return base ? parsed.pathname.slice(base.path.length) : undefined;
  }
}

/** How an attachment names a file it links as a Binary: relative to the FHIR base, as FHIR references are. */
export function binaryReference(file: { id: string }): string {
  return `Binary/${file.id}`;
}

/** The path this service serves a file under: `/files/<orgId>/<fileName>`. */
export function filePath(file: FileTarget): string {
  return `/files/${file.organizationId}/${file.fileName}`;
}
