// Progressive enhancement of the upload form: drag-and-drop, paste, several files at once, a size/type pre-check
// and real progress bars. The server checks everything again; without JavaScript the form posts one file normally.
// One file alone keeps the classic flow (upload, then the result page); several files each get a row in a list with
// their own progress bar and result, and go up one request per file, a few at a time.
// A link ("From a link") goes up like one file: the server fetches it, then the result page.
(function () {
  'use strict';
  const messages = {
    chooseFirst: 'Choose an image file first.',
    empty: 'That file is empty.',
    tooLarge: function (limit) { return 'That file is larger than the ' + limit + ' limit.'; },
    badType: 'That is not a supported image. Use JPEG, PNG, GIF, WebP or AVIF.',
    botCheckFirst: 'Complete the bot check below and the upload will start.',
    botCheckFirstMany: 'Complete the bot check below and the uploads will start.',
    uploading: function (name) { return 'Uploading ' + name + '…'; },
    opening: 'Done. Opening your links…',
    failed: function (status) { return 'The upload failed (' + status + '). Please try again.'; },
    connectionLost: 'The connection was lost. Please try again.',
    busy: 'Wait for the current upload to finish, then add more.',
    multiTitle: 'Drop images here, paste them, or choose files',
    waitingBotCheck: 'Waiting for the bot check…',
    itemDone: function (name) { return name + ' is up.'; },
    itemFailed: function (name, message) { return name + ' was not uploaded: ' + message; },
    summary: function (done, failed, total) {
      return done + ' of ' + total + ' uploaded' + (failed ? ', ' + failed + ' failed.' : '.');
    },
    guestNote: 'Save each delete link now: it is shown only once and cannot be recovered.',
    linkFirst: 'Paste a link to an image first (starting with http:// or https://).',
    fetching: 'Fetching the image from the link…',
    ownedNote: 'They are in My images, unlisted; manage them there.',
  };
  const PARALLEL = 3;
  const BOT_CHECK_ERRORS = ['turnstile_missing', 'turnstile_failed', 'turnstile_replayed', 'bot_check_missing', 'bot_check_failed', 'bot_check_replayed', 'bot_check_expired'];

  const form = document.getElementById('upload-form');
  if (!form) return;
  document.documentElement.classList.add('js');
  const input = document.getElementById('file');
  const dropzone = document.getElementById('dropzone');
  const progress = document.getElementById('progress');
  const status = document.getElementById('status');
  const submit = document.getElementById('submit');
  const preview = document.getElementById('preview');
  const batchBox = document.getElementById('upload-batch');
  const rows = window.pixbinUploadRows(document.getElementById('upload-list'));
  const maxBytes = Number(form.dataset.maxBytes);
  const accepted = form.dataset.accept.split(',');
  // Turnstile's widget, or ALTCHA's (BOT_PROTECTION=altcha), whose answer travels in the field named altcha.
  const altchaWidget = form.querySelector('altcha-widget');
  const needsBotCheck = Boolean(form.querySelector('.cf-turnstile') || altchaWidget);
  const botField = altchaWidget ? 'altcha' : 'cf-turnstile-response';
  // Signed in: the page carries a CSRF token, which must travel first so the server can check it before the file.
  const csrfField = form.querySelector('input[name="_csrf"]');
  // Only with JavaScript: the plain form posts to a route that takes exactly one file.
  input.multiple = true;
  const title = dropzone.querySelector('.dropzone-title');
  if (title) title.textContent = messages.multiTitle;

  function say(message, isError) {
    status.textContent = message;
    status.classList.toggle('error', Boolean(isError));
  }

  function botToken() {
    const field = form.querySelector('input[name="' + botField + '"]');
    return field ? field.value : '';
  }

  /** A bot-check answer is good for one request: run the widget again for the next. */
  function resetBotCheck() {
    if (window.turnstile) window.turnstile.reset();
    else if (altchaWidget && typeof altchaWidget.reset === 'function') { altchaWidget.reset(); altchaWidget.verify(); }
  }

  function check(file) {
    if (!file) return messages.chooseFirst;
    if (file.size === 0) return messages.empty;
    if (file.size > maxBytes) return messages.tooLarge(form.dataset.maxLabel);
    if (file.type && accepted.indexOf(file.type) === -1) return messages.badType;
    return null;
  }

  /**
   * One request for one file, or for a link ({ url, keepSource }); the same form fields the plain form sends, in the
   * same order (token first).
   */
  function send(file, token, onProgress, onDone) {
    const body = new FormData();
    if (csrfField) body.append('_csrf', csrfField.value);
    if (token) body.append(botField, token);
    const expires = document.getElementById('expires');
    if (expires) body.append('expires', expires.value); // the guest's choice applies to every file of a batch
    if (typeof file.url !== 'string') body.append('file', file, file.name);
    else {
      body.append('url', file.url);
      if (file.keepSource) body.append('keep_source', '1');
    }
    const xhr = new XMLHttpRequest();
    xhr.open('POST', form.action);
    xhr.setRequestHeader('Accept', 'application/json');
    if (csrfField) xhr.setRequestHeader('X-CSRF-Token', csrfField.value);
    xhr.upload.addEventListener('progress', function (e) {
      if (e.lengthComputable) onProgress(Math.round((e.loaded / e.total) * 100));
    });
    xhr.addEventListener('load', function () {
      let data = null;
      try { data = JSON.parse(xhr.responseText); } catch { data = null; }
      if (xhr.status === 201 && data) { onDone(null, data); return; }
      onDone(data && data.error ? data.error : { code: 'http_' + xhr.status, message: messages.failed(xhr.status) }, null);
    });
    xhr.addEventListener('error', function () { onDone({ code: 'network', message: messages.connectionLost }, null); });
    xhr.send(body);
  }

  // ---- One file: upload, then the result page, which shows the delete link once (a cookie carries it there).
  let pending = null;
  let busy = false;
  // Start by itself once the bot check is solved: true for a freshly chosen file and after a bot-check failure,
  // false after any other failure, which a new token would not fix (the user can still press Upload).
  let autoStart = false;

  function chooseOne(file) {
    const problem = check(file);
    if (problem) { say(problem, true); pending = null; return; }
    pending = file;
    autoStart = true;
    if (preview.src) URL.revokeObjectURL(preview.src);
    preview.src = URL.createObjectURL(file);
    preview.hidden = false;
    startOne();
  }

  function startOne() {
    if (!pending || busy) return;
    if (needsBotCheck && !botToken()) { say(messages.botCheckFirst); return; }
    busy = true;
    submit.disabled = true;
    progress.hidden = false;
    progress.value = 0;
    say(messages.uploading(pending.name));
    send(pending, needsBotCheck ? botToken() : '', function (percent) { progress.value = percent; }, function (error, data) {
      if (!error) {
        progress.value = 100;
        say(messages.opening);
        window.location.assign('/upload/' + encodeURIComponent(data.id));
        return;
      }
      failOne(error.message, BOT_CHECK_ERRORS.indexOf(error.code) !== -1);
    });
  }

  function failOne(message, retryAfterBotCheck) {
    busy = false;
    autoStart = retryAfterBotCheck;
    submit.disabled = false;
    progress.hidden = true;
    say(message, true);
    if (needsBotCheck) resetBotCheck(); // a token is good for one attempt only
  }

  // ---- A link: the server fetches it; then the result page, as for one file.
  const urlInput = document.getElementById('url');
  const urlSubmit = document.getElementById('url-submit');
  const keepSource = document.getElementById('keep-source');
  let linkWaiting = false; // pressed before the bot check was solved: starts once it is

  function startLink() {
    const link = urlInput ? urlInput.value.trim() : '';
    if (!/^https?:\/\/\S+$/i.test(link)) { linkWaiting = false; say(messages.linkFirst, true); urlInput.focus(); return; }
    if (busy) { say(messages.busy, true); return; }
    if (needsBotCheck && !botToken()) { linkWaiting = true; say(messages.botCheckFirst); return; }
    linkWaiting = false;
    busy = true;
    submit.disabled = true;
    urlSubmit.disabled = true;
    progress.hidden = true;
    say(messages.fetching);
    send({ url: link, keepSource: keepSource.checked }, needsBotCheck ? botToken() : '', function () {}, function (error, data) {
      if (!error) {
        say(messages.opening);
        window.location.assign('/upload/' + encodeURIComponent(data.id));
        return;
      }
      urlSubmit.disabled = false;
      failOne(error.message, false);
      linkWaiting = BOT_CHECK_ERRORS.indexOf(error.code) !== -1;
      urlInput.focus();
    });
  }

  // ---- Several files: a row each, one request per file, at most PARALLEL at once.
  const queue = [];
  const spentTokens = [];
  let batchStarted = false;
  let active = 0;
  const tally = { done: 0, failed: 0, total: 0 };

  function finish(item, error, data) {
    if (error) { tally.failed += 1; rows.showError(item, error.message); } else { tally.done += 1; rows.showResult(item, data); }
    const news = error ? messages.itemFailed(item.file.name, error.message) : messages.itemDone(item.file.name);
    const over = tally.done + tally.failed === tally.total;
    // One announcement per file, and the summary with the last one so it does not cut the file's news short.
    say(over ? news + ' ' + messages.summary(tally.done, tally.failed, tally.total) : news, Boolean(error));
    if (!over) return;
    // Bring keyboard and screen-reader users to the results, unless they have moved on to something else.
    const here = document.activeElement;
    if (!here || here === document.body || form.contains(here)) document.getElementById('upload-batch-heading').focus();
  }

  /** A bot-check token for one request: Turnstile tokens are single use, so the widget is re-run for the next file. */
  function takeToken() {
    const token = botToken();
    if (!token || spentTokens.indexOf(token) !== -1) return null;
    spentTokens.push(token);
    resetBotCheck();
    return token;
  }

  function pump() {
    while (active < PARALLEL && queue.length) {
      const token = needsBotCheck ? takeToken() : '';
      if (token === null) {
        queue.forEach(function (waiting) { rows.note(waiting, messages.waitingBotCheck); });
        say(messages.botCheckFirstMany);
        return;
      }
      const item = queue.shift();
      active += 1;
      rows.note(item, messages.uploading(item.file.name));
      send(item.file, token, function (percent) { rows.progress(item, percent); }, function (error, data) {
        active -= 1;
        if (error && BOT_CHECK_ERRORS.indexOf(error.code) !== -1 && !item.retried) {
          item.retried = true; // once, with a fresh token: a stale widget should not cost the file
          rows.progress(item, 0);
          queue.unshift(item);
        } else {
          finish(item, error, data);
        }
        pump();
      });
    }
  }

  function chooseMany(files) {
    if (!batchStarted) {
      batchStarted = true;
      batchBox.hidden = false;
      preview.hidden = true;
      progress.hidden = true;
      batchBox.querySelector('.upload-batch-note').textContent = csrfField ? messages.ownedNote : messages.guestNote;
      // A single file still waiting for the bot check joins the batch rather than being forgotten.
      if (pending && autoStart) files.unshift(pending);
      pending = null;
    }
    files.forEach(function (file) {
      const item = rows.add(file);
      tally.total += 1;
      const problem = check(file);
      if (problem) finish(item, { code: 'precheck', message: problem }, null);
      else queue.push(item);
    });
    pump();
  }

  function choose(files) {
    files = Array.prototype.slice.call(files || []);
    if (busy) { say(messages.busy, true); return; }
    if (files.length === 0) { chooseOne(null); return; }
    if (files.length === 1 && !batchStarted) { chooseOne(files[0]); return; }
    chooseMany(files);
    input.value = ''; // taken: the same files may be chosen again, and Upload does not send them twice
  }

  window.pixbinTurnstileDone = function () {
    if (linkWaiting && !busy) startLink();
    else if (batchStarted) pump();
    else if (pending && autoStart) startOne();
  };

  input.addEventListener('change', function () { if (input.files.length) choose(input.files); });
  form.addEventListener('submit', function (e) {
    e.preventDefault();
    // The link's button, or Enter in the link field (its button is the form's default one).
    if (urlSubmit && e.submitter === urlSubmit) { startLink(); return; }
    if (pending && !batchStarted) startOne(); // a retry of the one file, as before
    else if (input.files.length) choose(input.files);
    else chooseOne(null);
  });
  ['dragenter', 'dragover'].forEach(function (type) {
    dropzone.addEventListener(type, function (e) { e.preventDefault(); dropzone.classList.add('dragging'); });
  });
  ['dragleave', 'drop'].forEach(function (type) {
    dropzone.addEventListener(type, function () { dropzone.classList.remove('dragging'); });
  });
  dropzone.addEventListener('drop', function (e) {
    e.preventDefault();
    if (e.dataTransfer && e.dataTransfer.files.length) choose(e.dataTransfer.files);
  });
  document.addEventListener('paste', function (e) {
    const files = e.clipboardData ? Array.prototype.filter.call(e.clipboardData.files, function (f) { return f.type.indexOf('image/') === 0; }) : [];
    if (files.length) choose(files);
  });
})();
