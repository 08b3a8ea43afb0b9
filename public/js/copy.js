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
    // The visible text and the accessible name change together ("Copy Markdown" → "Copied Markdown").
    const original = button.textContent;
    const originalLabel = button.getAttribute('aria-label');
    button.textContent = 'Copied';
    if (originalLabel) button.setAttribute('aria-label', originalLabel.replace(/^Copy\b/, 'Copied'));
    setTimeout(function () {
      button.textContent = original;
      if (originalLabel) button.setAttribute('aria-label', originalLabel);
    }, 1500);
  });
  document.addEventListener('focusin', function (event) {
    if (event.target.matches('.copy-row input')) event.target.select();
  });
})();
