// ALTCHA (BOT_PROTECTION=altcha): the widget, served by this server, solves its challenge in a same-origin worker
// (PBKDF2 with the browser's own WebCrypto). Nothing is fetched from any other site.
import '/static/altcha/altcha.js';

globalThis.$altcha.algorithms.set('PBKDF2/SHA-256', () => new window.Worker('/static/altcha/pbkdf2.js', { name: 'altcha-pbkdf2' }));

// The upload page starts a waiting upload once the check is solved, as it does with Turnstile's callback.
document.querySelectorAll('altcha-widget').forEach(function (widget) {
  widget.addEventListener('verified', function () {
    // After the widget has written its answer into the form field.
    setTimeout(function () { if (typeof window.pixbinTurnstileDone === 'function') window.pixbinTurnstileDone(); }, 0);
  });
});
