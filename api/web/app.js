// statguard web page, start-up: the API key (kept in sessionStorage for this tab only), then the catalogue for
// everyone, the reviewer workbench for reviewer and officer keys (secure zone), and tables on demand: access
// requests, contracts and the table builder (contracts.js, builder.js). The parts live in util.js, catalogue.js,
// chart.js, reviewer.js, contracts.js and builder.js; DOM is built with textContent only (markup is never built from strings),
// so nothing from the API is interpreted as markup.
'use strict';

(function (SG) {
  const { $ } = SG;

  async function keyChanged() {
    $('key-status').textContent = SG.key() ? 'Key in use for this tab.' : 'No key: anonymous.';
    await Promise.all([SG.loadCatalogue(), SG.setupReviewer(), SG.setupAccess()]);
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
    SG.setupAccessForm();
    SG.setupBuilder();
    keyChanged();
  });
})(globalThis.SG);
