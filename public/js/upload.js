// Progressive enhancement of the upload form: drag-and-drop, paste, a size/type pre-check and a real progress bar.
// The server checks everything again; without JavaScript the form posts normally.
(function () {
  'use strict';
  const form = document.getElementById('upload-form');
  if (!form) return;
  document.documentElement.classList.add('js');
  const input = document.getElementById('file');
  const dropzone = document.getElementById('dropzone');
  const progress = document.getElementById('progress');
  const status = document.getElementById('status');
  const submit = document.getElementById('submit');
  const preview = document.getElementById('preview');
  const maxBytes = Number(form.dataset.maxBytes);
  const accepted = form.dataset.accept.split(',');
  const needsBotCheck = Boolean(form.querySelector('.cf-turnstile'));
  // Signed in: the page carries a CSRF token, which must travel first so the server can check it before the file.
  const csrfField = form.querySelector('input[name="_csrf"]');
  let pending = null;
  let busy = false;
  // Start by itself once the bot check is solved: true for a freshly chosen file and after a bot-check failure,
  // false after any other failure, which a new token would not fix (the user can still press Upload).
  let autoStart = false;
  const BOT_CHECK_ERRORS = ['turnstile_missing', 'turnstile_failed', 'turnstile_replayed'];

  function say(message, isError) {
    status.textContent = message;
    status.classList.toggle('error', Boolean(isError));
  }

  function botToken() {
    const field = form.querySelector('[name="cf-turnstile-response"]');
    return field ? field.value : '';
  }

  function check(file) {
    if (!file) return 'Choose an image file first.';
    if (file.size === 0) return 'That file is empty.';
    if (file.size > maxBytes) return 'That file is larger than the ' + form.dataset.maxLabel + ' limit.';
    if (file.type && accepted.indexOf(file.type) === -1) return 'That is not a supported image. Use JPEG, PNG, GIF, WebP or AVIF.';
    return null;
  }

  function choose(file) {
    const problem = check(file);
    if (problem) { say(problem, true); pending = null; return; }
    pending = file;
    autoStart = true;
    if (preview.src) URL.revokeObjectURL(preview.src);
    preview.src = URL.createObjectURL(file);
    preview.hidden = false;
    start();
  }


  function start() {
    if (!pending || busy) return;
    if (needsBotCheck && !botToken()) { say('Complete the bot check below and the upload will start.'); return; }
    busy = true;
    submit.disabled = true;
    progress.hidden = false;
    progress.value = 0;
    say('Uploading ' + pending.name + '…');
    const body = new FormData();
    if (csrfField) body.append('_csrf', csrfField.value);
    if (needsBotCheck) body.append('cf-turnstile-response', botToken());
    const expires = document.getElementById('expires');
    if (expires) body.append('expires', expires.value);
    body.append('file', pending, pending.name);
    const xhr = new XMLHttpRequest();
    xhr.open('POST', form.action);
    xhr.setRequestHeader('Accept', 'application/json');
    if (csrfField) xhr.setRequestHeader('X-CSRF-Token', csrfField.value);
    xhr.upload.addEventListener('progress', function (e) {
      if (e.lengthComputable) progress.value = Math.round((e.loaded / e.total) * 100);
    });
    xhr.addEventListener('load', function () {
      let data = null;
      try { data = JSON.parse(xhr.responseText); } catch { data = null; }
      if (xhr.status === 201 && data) {
        progress.value = 100;
        say('Done. Opening your links…');
        // The response also set a one-time cookie that lets the result page show the delete link once.
        window.location.assign('/upload/' + encodeURIComponent(data.id));
        return;
      }
      const error = data && data.error ? data.error : { code: 'http_' + xhr.status, message: 'The upload failed (' + xhr.status + '). Please try again.' };
      fail(error.message, BOT_CHECK_ERRORS.indexOf(error.code) !== -1);
    });
    xhr.addEventListener('error', function () { fail('The connection was lost. Please try again.', false); });
    xhr.send(body);
  }

  function fail(message, retryAfterBotCheck) {
    busy = false;
    autoStart = retryAfterBotCheck;
    submit.disabled = false;
    progress.hidden = true;
    say(message, true);
    if (needsBotCheck && window.turnstile) window.turnstile.reset(); // a token is good for one attempt only
  }

  window.pixbinTurnstileDone = function () { if (pending && autoStart) start(); };

  input.addEventListener('change', function () { choose(input.files[0]); });
  form.addEventListener('submit', function (e) {
    e.preventDefault();
    if (!pending) choose(input.files[0]); else start();
  });
  ['dragenter', 'dragover'].forEach(function (type) {
    dropzone.addEventListener(type, function (e) { e.preventDefault(); dropzone.classList.add('dragging'); });
  });
  ['dragleave', 'drop'].forEach(function (type) {
    dropzone.addEventListener(type, function () { dropzone.classList.remove('dragging'); });
  });
  dropzone.addEventListener('drop', function (e) {
    e.preventDefault();
    if (e.dataTransfer && e.dataTransfer.files.length) choose(e.dataTransfer.files[0]);
  });
  document.addEventListener('paste', function (e) {
    const file = e.clipboardData && Array.prototype.find.call(e.clipboardData.files, function (f) { return f.type.indexOf('image/') === 0; });
    if (file) choose(file);
  });
})();
