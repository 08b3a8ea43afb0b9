// My images: "select all", a live count of the selection, and a confirmation before anything is deleted.
// Without JavaScript every form still posts; the server checks everything again.
(function () {
  'use strict';
  const bulk = document.getElementById('bulk-delete');
  const boxes = Array.prototype.slice.call(document.querySelectorAll('input[name="ids"][form="bulk-delete"]'));

  document.querySelectorAll('form[data-confirm]').forEach(function (form) {
    form.addEventListener('submit', function (e) {
      if (!window.confirm(form.dataset.confirm)) e.preventDefault();
    });
  });

  if (!bulk) return;
  const selectAll = document.getElementById('select-all');
  const count = document.getElementById('selected-count');
  const button = document.getElementById('bulk-delete-button');
  document.getElementById('select-all-label').hidden = false;

  function selected() {
    return boxes.filter(function (box) { return box.checked; }).length;
  }
  function update() {
    const n = selected();
    count.textContent = n === 0 ? 'No images selected' : n === 1 ? '1 image selected' : n + ' images selected';
    button.disabled = n === 0;
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
    if (n === 0 || !window.confirm('Delete ' + (n === 1 ? 'this image' : 'these ' + n + ' images') + ' permanently? This cannot be undone.')) e.preventDefault();
  });
  update();
})();
