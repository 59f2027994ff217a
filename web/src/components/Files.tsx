import type { FileAttachmentView } from '../../../src/client/state.js';
import { Icon } from './Icon.js';

/** Largest size an image preview takes in the timeline, in CSS pixels; thumbnails are at most 400×400. */
const PREVIEW_MAX_WIDTH = 360;
const PREVIEW_MAX_HEIGHT = 240;

/** Image types the server makes thumbnails of (docs/files.md). */
const THUMBNAIL_TYPES = new Set(['image/jpeg', 'image/png', 'image/gif', 'image/webp', 'image/avif', 'image/tiff']);

export function formatSize(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`;
  const units = ['KB', 'MB', 'GB', 'TB'];
  let value = bytes / 1024;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit += 1;
  }
  return `${value < 10 ? value.toFixed(1) : Math.round(value)} ${units[unit]}`;
}

/** Returns the short kind shown on a file card: the extension, or the media type's family. */
function fileKind(file: FileAttachmentView): string {
  const extension = /\.([a-z0-9]{1,8})$/i.exec(file.name)?.[1];
  if (extension !== undefined) return extension.toUpperCase();
  return file.mime_type.split('/')[0] ?? 'file';
}

/** Scales an image's dimensions to fit the preview box, keeping its aspect ratio. */
function previewSize(width: number, height: number): { width: number; height: number } {
  const scale = Math.min(1, PREVIEW_MAX_WIDTH / width, PREVIEW_MAX_HEIGHT / height);
  return { width: Math.max(1, Math.round(width * scale)), height: Math.max(1, Math.round(height * scale)) };
}

/**
 * Renders a message's files: an image as its thumbnail with its dimensions,
 * anything else as a card with an icon, the name and the size. Images wait
 * for their thumbnail, which the server makes in the background and announces
 * with file.updated. File names are text, never markup.
 */
export function FilePreviews({ files }: { files: FileAttachmentView[] }) {
  if (files.length === 0) return null;
  return (
    <ul className="file-previews" aria-label="Files">
      {files.map((file) => (
        <li key={file.id}>{file.thumbnail_url !== null && file.width !== null && file.height !== null ? <ImagePreview file={file} /> : <FileCard file={file} />}</li>
      ))}
    </ul>
  );
}

function ImagePreview({ file }: { file: FileAttachmentView }) {
  const size = previewSize(file.width!, file.height!);
  return (
    <figure className="image-preview">
      <a href={file.url} target="_blank" rel="noopener noreferrer" aria-label={`Open ${file.name}`}>
        <img src={file.thumbnail_url!} alt={file.name} width={size.width} height={size.height} loading="lazy" decoding="async" />
      </a>
      <figcaption className="muted small">
        <span className="file-name">{file.name}</span>{' '}
        <span className="file-dimensions">
          {file.width} × {file.height}
        </span>
        , {formatSize(file.size)}
      </figcaption>
    </figure>
  );
}

function FileCard({ file }: { file: FileAttachmentView }) {
  const preparing = THUMBNAIL_TYPES.has(file.mime_type) && file.thumbnail_url === null;
  return (
    <div className="file-card">
      <span className="file-icon" aria-hidden="true">
        <Icon name="file" size={22} />
        <span className="file-kind">{fileKind(file)}</span>
      </span>
      <span className="file-text">
        <span className="file-name" title={file.name}>
          {file.name}
        </span>
        <span className="muted small">
          {formatSize(file.size)}
          {preparing && ' · preparing preview…'}
        </span>
      </span>
      <a className="icon-button" href={`${file.url}?download=true`} download={file.name} aria-label={`Download ${file.name}`}>
        <Icon name="download" />
      </a>
    </div>
  );
}

/** A file chosen in the composer: uploading, uploaded (with the server's file) or failed. */
export interface Attachment {
  key: string;
  name: string;
  size: number;
  status: 'uploading' | 'ready' | 'failed';
  file: FileAttachmentView | undefined;
  error: string | undefined;
  /** The chosen file, kept to upload it. */
  source: File;
}

/** Renders the composer's chosen files, each with its upload state and a button to remove it. */
export function AttachmentList({ attachments, onRemove }: { attachments: Attachment[]; onRemove: (key: string) => void }) {
  if (attachments.length === 0) return null;
  return (
    <ul className="attachments" aria-label="Attached files">
      {attachments.map((attachment) => (
        <li key={attachment.key} className={`attachment ${attachment.status}`}>
          <Icon name="file" size={16} />
          <span className="file-name">{attachment.name}</span>
          <span className="muted small">
            {attachment.status === 'uploading' && 'Uploading…'}
            {attachment.status === 'ready' && formatSize(attachment.size)}
            {attachment.status === 'failed' && `Failed: ${attachment.error ?? 'upload failed'}`}
          </span>
          <button type="button" className="icon-button" aria-label={`Remove ${attachment.name}`} onClick={() => onRemove(attachment.key)}>
            <Icon name="close" size={14} />
          </button>
        </li>
      ))}
    </ul>
  );
}
