// The per-file rows of the upload page's list: name, size, a progress bar, then the result or the error.
// upload.js decides what goes up when; this file only builds and updates the rows.
(function () {
  'use strict';
  const messages = {
    waiting: 'Waiting…',
    uploaded: 'Uploaded.',
    sharePage: 'Share page',
    directLink: 'Direct link',
    deleteLink: 'Delete link (save it now: shown once)',
    progressLabel: function (name) { return 'Upload progress of ' + name; },
    copyLabel: function (label, name) { return 'Copy ' + label + ' of ' + name; },
  };

  window.pixbinUploadRows = function (list) {
    let serial = 0;

    function el(tag, className, text) {
      const node = document.createElement(tag);
      if (className) node.className = className;
      if (text !== undefined) node.textContent = text;
      return node;
    }

    function humanSize(bytes) {
      const units = ['bytes', 'KB', 'MB', 'GB'];
      let value = bytes;
      let unit = 0;
      while (value >= 1000 && unit < units.length - 1) { value /= 1000; unit += 1; }
      return (unit === 0 ? value : value.toFixed(1)) + ' ' + units[unit];
    }

    /** A read-only field with a Copy button, shaped like views/partials/copy-field.ejs so copy.js handles it. */
    function copyField(id, label, value, name) {
      const wrap = el('div', 'copy-field');
      const lab = el('label', '', label);
      lab.htmlFor = id;
      const row = el('div', 'copy-row');
      const field = el('input');
      field.id = id;
      field.type = 'text';
      field.readOnly = true;
      field.spellcheck = false;
      field.value = value;
      const button = el('button', 'button copy', 'Copy');
      button.type = 'button';
      button.dataset.copy = id;
      button.setAttribute('aria-label', messages.copyLabel(label, name));
      row.append(field, button);
      wrap.append(lab, row);
      return wrap;
    }

    function add(file) {
      serial += 1;
      const row = el('li', 'upload-item');
      row.id = 'upload-item-' + serial;
      const head = el('p', 'upload-item-head');
      head.append(el('span', 'upload-item-name', file.name), ' ', el('span', 'upload-item-size', humanSize(file.size)));
      const bar = el('progress', 'progress');
      bar.max = 100;
      bar.value = 0;
      bar.setAttribute('aria-label', messages.progressLabel(file.name));
      const note = el('p', 'upload-item-status', messages.waiting);
      row.append(head, bar, note);
      list.append(row);
      return { file: file, row: row, bar: bar, note: note, retried: false, n: serial };
    }

    function showResult(item, data) {
      item.row.classList.add('done');
      item.bar.value = 100;
      item.note.textContent = messages.uploaded;
      const thumb = el('a', 'upload-item-thumb');
      thumb.href = data.pageUrl;
      const img = el('img');
      img.src = data.thumbnailUrl;
      img.alt = item.file.name;
      thumb.append(img);
      const links = el('div', 'upload-item-links');
      links.append(
        copyField('upload-' + item.n + '-share', messages.sharePage, data.pageUrl, item.file.name),
        copyField('upload-' + item.n + '-direct', messages.directLink, data.url, item.file.name),
        copyField('upload-' + item.n + '-delete', messages.deleteLink, data.deleteUrl, item.file.name),
      );
      item.row.append(thumb, links);
    }

    function showError(item, message) {
      item.row.classList.add('failed');
      item.bar.hidden = true;
      item.note.textContent = message;
      item.note.classList.add('error');
    }

    return {
      add: add,
      showResult: showResult,
      showError: showError,
      note: function (item, text) { item.note.textContent = text; },
      progress: function (item, percent) { item.bar.value = percent; },
    };
  };
})();
