// My images: "select all", a live count of the selection, the bulk buttons, a confirmation before anything is
// deleted, and a visibility change in one step (no reload). Without JavaScript every form still posts; the server
// checks everything again.
(function () {
  'use strict';
  const bulk = document.getElementById('bulk-delete');
  const boxes = Array.prototype.slice.call(document.querySelectorAll('input[name="ids"][form="bulk-delete"]'));
  const LABELS = { public: 'Public', unlisted: 'Unlisted', private: 'Private' };

  document.querySelectorAll('form[data-confirm]').forEach(function (form) {
    form.addEventListener('submit', function (e) {
      if (!window.confirm(form.dataset.confirm)) e.preventDefault();
    });
  });

  // Choosing a visibility saves it at once; the "Set" button is only for pages without JavaScript.
  document.querySelectorAll('form.visibility-form').forEach(function (form) {
    const select = form.querySelector('select[name="visibility"]');
    const status = form.querySelector('.visibility-status');
    const card = form.closest('.image-card');
    const badge = card && card.querySelector('.badge');
    let saved = select.value;
    form.querySelector('button[type="submit"]').hidden = true;
    select.addEventListener('change', async function () {
      const wanted = select.value;
      status.textContent = 'Saving…';
      try {
        const res = await fetch(form.action, {
          method: 'POST',
          headers: { Accept: 'application/json', 'Content-Type': 'application/x-www-form-urlencoded' },
          body: new URLSearchParams(new FormData(form)),
          credentials: 'same-origin',
        });
        const body = await res.json().catch(function () { return null; });
        if (!res.ok || !body || body.visibility !== wanted) throw new Error((body && body.error && body.error.message) || 'The change was not saved. Reload the page and try again.');
        saved = wanted;
        if (badge) {
          badge.className = 'badge badge-' + wanted;
          badge.textContent = LABELS[wanted];
        }
        status.textContent = 'Saved: ' + LABELS[wanted].toLowerCase() + '.';
      } catch (err) {
        select.value = saved;
        status.textContent = err.message;
      }
    });
  });

  if (!bulk) return;
  const selectAll = document.getElementById('select-all');
  const count = document.getElementById('selected-count');
  const buttons = Array.prototype.slice.call(bulk.querySelectorAll('button[type="submit"]'));
  document.getElementById('select-all-label').hidden = false;

  function selected() {
    return boxes.filter(function (box) { return box.checked; }).length;
  }
  function update() {
    const n = selected();
    count.textContent = n === 0 ? 'No images selected' : n === 1 ? '1 image selected' : n + ' images selected';
    buttons.forEach(function (button) { button.disabled = n === 0; });
    selectAll.checked = n > 0 && n === boxes.length;
    selectAll.indeterminate = n > 0 && n < boxes.length;
  }
  selectAll.addEventListener('change', function () {
    boxes.forEach(function (box) { box.checked = selectAll.checked; });
    update();
  });
  boxes.forEach(function (box) { box.addEventListener('change', update); });
  bulk.addEventListener('submit', function (e) {
    const n = selected();
    if (n === 0) return e.preventDefault();
    // Visibility and "add to album" change nothing irreversibly: only deleting asks first.
    if (e.submitter && e.submitter.dataset.bulk) return;
    if (!window.confirm('Delete ' + (n === 1 ? 'this image' : 'these ' + n + ' images') + ' permanently? This cannot be undone.')) e.preventDefault();
  });
  update();
})();
