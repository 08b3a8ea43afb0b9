// Copy buttons next to read-only fields. Without JavaScript the fields can still be selected by hand.
(function () {
  'use strict';
  document.addEventListener('click', async function (event) {
    const button = event.target.closest('button[data-copy]');
    if (!button) return;
    const input = document.getElementById(button.dataset.copy);
    if (!input) return;
    try {
      await navigator.clipboard.writeText(input.value);
    } catch {
      input.select();
      document.execCommand('copy');
    }
    const original = button.textContent;
    button.textContent = 'Copied';
    setTimeout(function () { button.textContent = original; }, 1500);
  });
  document.addEventListener('focusin', function (event) {
    if (event.target.matches('.copy-row input')) event.target.select();
  });
})();
