// statguard web page, start-up: the API key (kept in sessionStorage for this tab only), then the catalogue for
// everyone and the reviewer workbench for reviewer and officer keys (secure zone). The parts live in util.js,
// catalogue.js, chart.js and reviewer.js; DOM is built with textContent only (markup is never built from strings),
// so nothing from the API is interpreted as markup.
'use strict';

(function (SG) {
  const { $ } = SG;

  async function keyChanged() {
    $('key-status').textContent = SG.key() ? 'Key in use for this tab.' : 'No key: anonymous.';
    await Promise.all([SG.loadCatalogue(), SG.setupReviewer()]);
  }

  document.addEventListener('DOMContentLoaded', () => {
    $('key-form').addEventListener('submit', (ev) => {
      ev.preventDefault();
      const v = $('api-key').value.trim();
      if (v) SG.setKey(v);
      $('api-key').value = '';
      keyChanged();
    });
    $('key-clear').addEventListener('click', () => {
      SG.setKey('');
      keyChanged();
    });
    SG.setupCatalogue();
    SG.setupChart();
    SG.setupReviewerForm();
    keyChanged();
  });
})(globalThis.SG);
