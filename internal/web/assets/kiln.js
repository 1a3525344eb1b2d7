// Kiln's web UI script: collapsible log sections, section durations and follow mode
// for running jobs (polling trace.json by offset). Pages work without it.
(function () {
  'use strict';

  var log = document.getElementById('job-log');
  if (!log) return;

  var collapsed = new Set();

  // refresh shows or hides the lines of one section after a toggle.
  function refresh(id) {
    log.querySelectorAll('.line[data-sections~="' + id + '"]').forEach(function (line) {
      line.hidden = line.dataset.sections.split(' ').some(function (s) { return collapsed.has(s); });
    });
  }

  // prepare readies freshly rendered lines (the page's, or a poll's) before they are shown.
  function prepare(root) {
    root.querySelectorAll('.section-header[data-collapsed="true"]').forEach(function (h) {
      collapsed.add(h.dataset.section);
      h.classList.add('collapsed');
      h.setAttribute('aria-expanded', 'false');
    });
    root.querySelectorAll('.line[data-sections]').forEach(function (line) {
      line.hidden = line.dataset.sections.split(' ').some(function (s) { return collapsed.has(s); });
    });
  }

  // endSections puts the durations of sections that closed in a later chunk into their headers.
  function endSections(root) {
    root.querySelectorAll('.section-end').forEach(function (end) {
      var slot = log.querySelector('.section-header[data-section="' + end.dataset.section + '"] .section-duration');
      if (slot) slot.textContent = end.dataset.duration;
      end.remove();
    });
  }

  prepare(log);
  endSections(log);

  log.addEventListener('click', function (e) {
    var header = e.target.closest('.section-header');
    if (!header || e.target.closest('a')) return;
    var id = header.dataset.section;
    if (collapsed.has(id)) collapsed.delete(id); else collapsed.add(id);
    var isCollapsed = collapsed.has(id);
    header.classList.toggle('collapsed', isCollapsed);
    header.setAttribute('aria-expanded', String(!isCollapsed));
    refresh(id);
  });

  document.querySelectorAll('[data-scroll]').forEach(function (b) {
    b.addEventListener('click', function () {
      log.scrollTop = b.dataset.scroll === 'top' ? 0 : log.scrollHeight;
    });
  });

  if (log.dataset.follow !== 'true') return;

  var offset = log.dataset.offset;
  var state = log.dataset.state;
  var pollMs = Math.max(parseInt(log.dataset.pollMs, 10) || 3000, 1000);
  var failures = 0;
  var indicator = document.getElementById('log-follow');

  function atBottom() {
    return log.scrollHeight - log.scrollTop - log.clientHeight < 40;
  }

  function poll() {
    var url = new URL(log.dataset.traceUrl, window.location.href);
    url.searchParams.set('offset', offset);
    url.searchParams.set('state', state);
    fetch(url, { credentials: 'same-origin', headers: { Accept: 'application/json' } })
      .then(function (res) {
        if (!res.ok) throw new Error('trace.json answered ' + res.status);
        return res.json();
      })
      .then(function (data) {
        failures = 0;
        var follow = atBottom();
        if (data.reset) { log.textContent = ''; collapsed.clear(); }
        if (data.html) {
          // The server renders the log with every byte of it escaped (package joblog).
          var t = document.createElement('template');
          t.innerHTML = data.html;
          prepare(t.content);
          log.appendChild(t.content);
          endSections(log);
        }
        offset = data.offset;
        state = data.state;
        if (follow) log.scrollTop = log.scrollHeight;
        if (data.complete) {
          if (indicator) indicator.hidden = true;
          window.location.reload(); // show the job's final status, duration and artifacts
          return;
        }
        setTimeout(poll, pollMs);
      })
      .catch(function () {
        failures++;
        setTimeout(poll, Math.min(pollMs * Math.pow(2, failures), 60000));
      });
  }

  log.scrollTop = log.scrollHeight;
  setTimeout(poll, pollMs);
})();
