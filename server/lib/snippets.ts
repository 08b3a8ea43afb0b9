/**
 * The embed snippets offered on the result page. The file name is the uploader's text, so it is escaped for
 * each target language: the snippet must stay well-formed and inert wherever it is pasted.
 */
const HTML_ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };

export function escapeHtmlAttribute(text: string): string {
  return text.replace(/[&<>"']/g, (c) => HTML_ESCAPES[c]!);
}

/** Markdown image alt text: brackets and backslashes are escaped, line breaks flattened. */
export function escapeMarkdownAlt(text: string): string {
  return text.replace(/[\r\n]+/g, ' ').replace(/[\\[\]]/g, (c) => `\\${c}`);
}

export function embedSnippets(input: { name: string; pageUrl: string; url: string; width: number; height: number }) {
  const { name, pageUrl, url, width, height } = input;
  return {
    markdown: `[![${escapeMarkdownAlt(name)}](${url})](${pageUrl})`,
    bbcode: `[url=${pageUrl}][img]${url}[/img][/url]`,
    html: `<a href="${pageUrl}"><img src="${url}" alt="${escapeHtmlAttribute(name)}" width="${width}" height="${height}"></a>`,
  };
}
