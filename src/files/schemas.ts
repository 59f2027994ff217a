import { Type, type Static } from '@sinclair/typebox';
import { Id, Strict } from '../http/schemas.js';

/** A stored file as clients see it, in file lists, message views and events. */
export const FileView = Type.Object(
  {
    id: Id,
    conversation_id: Id,
    message_id: Type.Union([Id, Type.Null()], { description: 'Null until a message claims the upload through file_ids' }),
    uploader_id: Id,
    name: Type.String({ description: 'Cleaned file name: Unicode kept, no path separators or control characters, at most 255 UTF-8 bytes' }),
    size: Type.Integer({ description: 'Bytes' }),
    mime_type: Type.String({ description: 'Media type declared at upload, as type/subtype' }),
    sha256: Type.String({ description: 'Hex SHA-256 of the content; downloads send it as the ETag' }),
    width: Type.Union([Type.Integer(), Type.Null()], { description: 'Pixels, for images once the thumbnail is made' }),
    height: Type.Union([Type.Integer(), Type.Null()]),
    url: Type.String({ description: 'Path of the content: GET it with a session, or ask for a signed link' }),
    thumbnail_url: Type.Union([Type.String(), Type.Null()], { description: 'Path of a WebP thumbnail of at most 400x400 pixels; null until made, and for non-images' }),
    created_at: Type.String(),
  },
  { description: 'A shared file' },
);
export type FileView = Static<typeof FileView>;

export const FileParams = Strict({ fileId: Id });
export const UploadParams = Strict({ uploadId: Id });

/** Most files one message may carry. */
export const MAX_FILES_PER_MESSAGE = 10;

export const FileIds = Type.Array(Id, {
  minItems: 1,
  maxItems: MAX_FILES_PER_MESSAGE,
  uniqueItems: true,
  description: 'Uploads to attach: each must be the poster\'s own unattached upload to this conversation. With files, text may be empty.',
});

export const UploadQuery = Strict({
  name: Type.String({ minLength: 1, maxLength: 1024, description: 'File name; cleaned before it is stored' }),
});
export type UploadQuery = Static<typeof UploadQuery>;

export const FileListQuery = Strict({
  before: Type.Optional(Type.String({ maxLength: 200, description: 'next_cursor of the previous page' })),
  limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 200, default: 50 })),
});
export type FileListQuery = Static<typeof FileListQuery>;

export const FilePage = Type.Object({
  files: Type.Array(FileView),
  next_cursor: Type.Union([Type.String(), Type.Null()], { description: 'Pass as before for older files; null on the last page' }),
});

export const DownloadQuery = Strict({
  download: Type.Optional(Type.Boolean({ description: 'true serves the file as an attachment even where inline is allowed' })),
  expires: Type.Optional(Type.Integer({ minimum: 0, description: 'Signed links only: expiry, Unix seconds' })),
  user: Type.Optional(Id),
  signature: Type.Optional(Type.String({ maxLength: 128, description: 'Signed links only: base64url HMAC-SHA256' })),
});
export type DownloadQuery = Static<typeof DownloadQuery>;

export const LinkBody = Strict({
  expires_in: Type.Optional(Type.Integer({ minimum: 1, maximum: 7 * 24 * 3600, default: 3600, description: 'Seconds the link stays valid' })),
});
export type LinkBody = Static<typeof LinkBody>;

export const SignedLinks = Type.Object({
  url: Type.String({ description: 'Path of the content with the signature; send no credentials with it' }),
  thumbnail_url: Type.Union([Type.String(), Type.Null()]),
  expires_at: Type.String(),
});
