/**
 * Ready-made uploader settings for a new API key: a ShareX custom uploader (.sxcu), a POSIX shell script and the
 * Flameshot command line that pipes into it. Pure functions of the site's public URL and the key, called only
 * while the page that creates the key is rendered: the key is never stored, so these cannot be served later.
 */

export const API_UPLOAD_PATH = '/api/v1/images';

/** The host a config is named after ("pixbin.example" or "localhost:3000"). */
export const hostOf = (publicUrl: string): string => new URL(publicUrl).host;

/** A file-name-safe form of the host: ports and anything unusual become "-". */
const fileSafe = (s: string): string => s.replace(/[^A-Za-z0-9.-]+/g, '-');

export type ShareXConfig = {
  Version: string;
  Name: string;
  DestinationType: string;
  RequestMethod: 'POST';
  RequestURL: string;
  Headers: Record<string, string>;
  Body: 'MultipartFormData';
  Arguments: Record<string, string>;
  FileFormName: string;
  URL: string;
  ThumbnailURL: string;
  DeletionURL: string;
  ErrorMessage: string;
};

/**
 * ShareX's custom uploader. Files of Version 13.7.1 or older are migrated from the old `$json:…$` syntax on import;
 * a newer Version tells ShareX these `{json:…}` references are already the current syntax. Only images: the API
 * refuses anything else, so offering it as a file uploader would only produce errors.
 */
export function sharexConfig(publicUrl: string, key: string): ShareXConfig {
  return {
    Version: '14.0.0',
    Name: `Pixbin (${hostOf(publicUrl)})`,
    DestinationType: 'ImageUploader',
    RequestMethod: 'POST',
    RequestURL: `${publicUrl}${API_UPLOAD_PATH}`,
    Headers: { Authorization: `Bearer ${key}` },
    Body: 'MultipartFormData',
    Arguments: { visibility: 'unlisted' },
    FileFormName: 'file',
    URL: '{json:url}',
    ThumbnailURL: '{json:thumbnail_url}',
    DeletionURL: '{json:delete_url}',
    ErrorMessage: '{json:detail}',
  };
}

export const sharexFileName = (publicUrl: string): string => `pixbin-${fileSafe(hostOf(publicUrl))}.sxcu`;

export const SHELL_SCRIPT_NAME = 'pixbin-upload.sh';

/** Single-quotes a value for a POSIX shell. */
const shQuote = (s: string): string => `'${s.replace(/'/g, `'\\''`)}'`;

/**
 * The upload script: a file argument or standard input (Flameshot's --raw), curl with the key, the bare direct
 * URL back (Accept: text/plain), then onto the clipboard (wl-copy on Wayland, xclip on X11) and standard output.
 * Any failure, the server's own message included (--fail-with-body), goes to standard error with a non-zero exit.
 * The key reaches curl on its standard input (`-H @-`, free because the image is buffered to a file first), never
 * in its arguments, which any local user can read in `ps` or /proc; printf is a shell builtin, so no argv there either.
 */
export function shellScript(publicUrl: string, key: string): string {
  return `#!/bin/sh
# Uploads an image to Pixbin (${hostOf(publicUrl)}) and copies its direct link to the clipboard.
# Usage: sh ${SHELL_SCRIPT_NAME} picture.png    or    some-command | sh ${SHELL_SCRIPT_NAME}
# Needs curl 7.76 or newer, and wl-copy (Wayland) or xclip (X11) for the clipboard.
# It contains your API key: keep it readable only by you (chmod 600 ${SHELL_SCRIPT_NAME}).
set -eu
PIXBIN_URL=${shQuote(`${publicUrl}${API_UPLOAD_PATH}`)}
PIXBIN_KEY=${shQuote(key)}

tmp=$(mktemp)
trap 'rm -f "$tmp"' EXIT
name=screenshot.png
if [ "$#" -gt 0 ]; then
  cat -- "$1" >"$tmp"
  name=$(basename -- "$1" | tr -c 'A-Za-z0-9._\\n-' '_')
else
  cat >"$tmp"
fi
if [ ! -s "$tmp" ]; then
  echo "pixbin: nothing to upload (the file is empty, or the capture was cancelled)" >&2
  exit 1
fi

# The key goes to curl on standard input, not on its command line, where other users could read it (ps).
if ! url=$(printf 'Authorization: Bearer %s\\n' "$PIXBIN_KEY" | curl --silent --show-error --fail-with-body \\
    -H @- -H 'Accept: text/plain' \\
    -F "file=@$tmp;filename=$name" "$PIXBIN_URL"); then
  # The answer is a problem+json object; its "detail" is the sentence meant for people.
  detail=$(printf '%s' "$url" | sed -n 's/.*"detail":"\\(.*\\)","code".*/\\1/p')
  echo "pixbin: upload failed: \${detail:-$url}" >&2
  exit 1
fi

if [ -n "\${WAYLAND_DISPLAY:-}" ] && command -v wl-copy >/dev/null 2>&1; then
  printf '%s' "$url" | wl-copy
elif command -v xclip >/dev/null 2>&1; then
  printf '%s' "$url" | xclip -selection clipboard
else
  echo "pixbin: install wl-copy or xclip to get the link on the clipboard" >&2
fi
printf '%s\\n' "$url"
`;
}

/** Flameshot hands the capture to the script on standard input; the script carries the key, so this line does not. */
export const flameshotCommand = (): string => `flameshot gui --raw | sh ~/${SHELL_SCRIPT_NAME}`;

/** A data: URL for an <a download> link, so the browser saves the file without the server ever keeping it. */
export const dataUrl = (mime: string, content: string): string => `data:${mime};base64,${Buffer.from(content, 'utf8').toString('base64')}`;
