import { expect } from 'chai';
import { embedSnippets, escapeHtmlAttribute, escapeMarkdownAlt } from '../../lib/snippets.js';

describe('embed snippets', () => {
  const base = { pageUrl: 'https://pix.example/i/abc', url: 'https://pix.example/i/abc.png', width: 640, height: 480 };

  it('keeps a hostile name inert in the HTML snippet', () => {
    const { html } = embedSnippets({ ...base, name: '"><script>alert(1)</script><img src=x onerror=alert(2) alt="' });
    expect(html).to.equal(
      '<a href="https://pix.example/i/abc"><img src="https://pix.example/i/abc.png" alt="&quot;&gt;&lt;script&gt;alert(1)&lt;/script&gt;&lt;img src=x onerror=alert(2) alt=&quot;" width="640" height="480"></a>',
    );
  });

  it('keeps the Markdown image well-formed whatever the name', () => {
    const { markdown } = embedSnippets({ ...base, name: 'a](https://evil.example)[\\\nb' });
    expect(markdown).to.equal('[![a\\](https://evil.example)\\[\\\\ b](https://pix.example/i/abc.png)](https://pix.example/i/abc)');
  });

  it('escapes & and quotes in attributes, leaving other text alone', () => {
    expect(escapeHtmlAttribute(`Tom & Jerry's "day"`)).to.equal('Tom &amp; Jerry&#39;s &quot;day&quot;');
    expect(escapeMarkdownAlt('Straße 日本')).to.equal('Straße 日本');
  });

  it('builds BBCode from the server-made URLs only', () => {
    expect(embedSnippets({ ...base, name: '[/img][url=evil]' }).bbcode).to.equal('[url=https://pix.example/i/abc][img]https://pix.example/i/abc.png[/img][/url]');
  });
});
