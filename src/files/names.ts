/**
 * File names and media types: what is stored for an upload, and how a
 * download names and labels it. A stored name keeps its Unicode letters,
 * emoji and quotes, but never contains path separators, control characters
 * or bidirectional overrides, and fits in 255 UTF-8 bytes.
 */

/** Longest stored name in UTF-8 bytes, the limit of common file systems. */
export const MAX_FILE_NAME_BYTES = 255;

/** Longest extension kept whole when a long name is cut. */
const MAX_KEPT_EXTENSION_CHARS = 20;

/** Name given to a file whose name is empty once cleaned. */
export const FALLBACK_FILE_NAME = 'file';

/** C0 and C1 controls, DEL, and the Unicode line and paragraph separators. */
const CONTROL_CHARACTERS = /[\u0000-\u001f\u007f-\u009f\u2028\u2029]/g;

/**
 * Bidirectional formatting characters (marks, embeddings, overrides and
 * isolates) and the byte order mark. A right-to-left override can make
 * "invoice_gpj.exe" display as "invoice_exe.jpg", so these are removed.
 */
const BIDI_AND_BOM = /[\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069\ufeff]/g;

const PATH_SEPARATORS = /[/\\]/g;

const segmenter = new Intl.Segmenter('en', { granularity: 'grapheme' });

/**
 * Cleans a client-supplied file name for storage and display: replaces path
 * separators and control characters with "_", removes bidirectional controls,
 * trims spaces and dots at both ends, and cuts the name to 255 UTF-8 bytes at
 * a character boundary while keeping a short extension.
 */
export function cleanFileName(raw: string): string {
  let name = raw.toWellFormed().normalize('NFC');
  name = name.replace(BIDI_AND_BOM, '').replace(CONTROL_CHARACTERS, '_').replace(PATH_SEPARATORS, '_');
  // Leading dots would make hidden files; trailing dots and spaces are dropped by Windows.
  name = name.replace(/^[\s.]+/u, '').replace(/[\s.]+$/u, '');
  if (name === '') return FALLBACK_FILE_NAME;
  return cutToBytes(name, MAX_FILE_NAME_BYTES);
}

function utf8Length(text: string): number {
  return Buffer.byteLength(text, 'utf8');
}

/** Cuts the base name, grapheme by grapheme, until base and extension fit in maxBytes. */
function cutToBytes(name: string, maxBytes: number): string {
  if (utf8Length(name) <= maxBytes) return name;

  const dot = name.lastIndexOf('.');
  const extension = dot > 0 && name.length - dot <= MAX_KEPT_EXTENSION_CHARS + 1 ? name.slice(dot) : '';
  const base = extension === '' ? name : name.slice(0, dot);
  const budget = maxBytes - utf8Length(extension);

  let kept = '';
  let keptBytes = 0;
  for (const { segment } of segmenter.segment(base)) {
    const bytes = utf8Length(segment);
    if (keptBytes + bytes > budget) break;
    kept += segment;
    keptBytes += bytes;
  }
  return kept === '' ? FALLBACK_FILE_NAME + extension : kept + extension;
}

/**
 * Builds a Content-Disposition header value with both forms of RFC 6266: an
 * ASCII `filename` for old clients, with every other character, quote,
 * backslash and percent sign replaced by "_", and a `filename*` in UTF-8
 * (RFC 8187) that keeps the name exact.
 */
export function contentDisposition(kind: 'inline' | 'attachment', name: string): string {
  const cleaned = cleanFileName(name);
  const fallback = cleaned.replace(/[^\x20-\x7e]|["\\%]/g, '_');
  return `${kind}; filename="${fallback}"; filename*=UTF-8''${encodeRfc8187(cleaned)}`;
}

/** Percent-encodes every byte outside RFC 8187's attr-char set. */
function encodeRfc8187(value: string): string {
  return encodeURIComponent(value).replace(/['()*]/g, (char) => `%${char.charCodeAt(0).toString(16).toUpperCase()}`);
}

/** The type stored for anything that does not name a valid media type. */
export const OCTET_STREAM = 'application/octet-stream';

const MEDIA_TYPE = /^[a-z0-9][a-z0-9!#$&^_.+-]{0,126}\/[a-z0-9][a-z0-9!#$&^_.+-]{0,126}$/;

/** Normalises a client-declared media type to lowercase `type/subtype` without parameters. */
export function cleanMediaType(raw: string | undefined | null): string {
  const essence = (raw ?? '').split(';')[0]?.trim().toLowerCase() ?? '';
  return MEDIA_TYPE.test(essence) ? essence : OCTET_STREAM;
}

/**
 * Media types that browsers display without running code, so downloads may
 * serve them inline under their own type. Everything else, including SVG,
 * HTML, XML, JavaScript and PDF, is served as an octet-stream attachment.
 */
export const INLINE_MEDIA_TYPES: ReadonlySet<string> = new Set([
  'image/png',
  'image/jpeg',
  'image/gif',
  'image/webp',
  'image/avif',
  'image/bmp',
  'video/mp4',
  'video/webm',
  'video/ogg',
  'video/quicktime',
  'audio/mpeg',
  'audio/mp4',
  'audio/aac',
  'audio/ogg',
  'audio/opus',
  'audio/wav',
  'audio/webm',
  'audio/flac',
  'text/plain',
]);

/** Returns the Content-Type and disposition a download is served with. */
export function servingOf(mediaType: string, forceAttachment: boolean): { contentType: string; disposition: 'inline' | 'attachment' } {
  if (!INLINE_MEDIA_TYPES.has(mediaType)) return { contentType: OCTET_STREAM, disposition: 'attachment' };
  return { contentType: mediaType, disposition: forceAttachment ? 'attachment' : 'inline' };
}
