// fileio serve: the upload page and the landing page. No libraries, no network but this
// server's own API. The API key stays in this tab (sessionStorage) and goes out only as an
// Authorization header; a link's #fragment is read only to show a notice, never sent.
'use strict';

(function () {
  var form = document.getElementById('upload');
  if (form) {
    uploadPage(form);
  }
  var e2e = document.getElementById('e2e');
  if (e2e && location.hash.length > 1) {
    document.getElementById('e2e-link').textContent = location.href;
    e2e.hidden = false;
  }

  function uploadPage(form) {
    var files = document.getElementById('files');
    var drop = document.getElementById('drop');
    var results = document.getElementById('results');
    var key = document.getElementById('key');
    var maxSize = Number(form.getAttribute('data-max-size') || 0);
    var KEY_STORE = 'fileio-api-key';

    if (key) {
      try {
        key.value = sessionStorage.getItem(KEY_STORE) || '';
      } catch (e) { /* storage refused: the key lives in the field only */ }
      key.addEventListener('input', function () {
        try {
          sessionStorage.setItem(KEY_STORE, key.value);
        } catch (e) { /* as above */ }
      });
    }
    form.addEventListener('submit', function (ev) { ev.preventDefault(); });

    files.addEventListener('change', function () {
      send(files.files);
      files.value = '';
    });
    ['dragenter', 'dragover'].forEach(function (t) {
      drop.addEventListener(t, function (ev) {
        ev.preventDefault();
        drop.classList.add('over');
      });
    });
    ['dragleave', 'drop'].forEach(function (t) {
      drop.addEventListener(t, function () { drop.classList.remove('over'); });
    });
    drop.addEventListener('drop', function (ev) {
      ev.preventDefault();
      if (ev.dataTransfer && ev.dataTransfer.files) {
        send(ev.dataTransfer.files);
      }
    });

    function send(list) {
      for (var i = 0; i < list.length; i++) {
        one(list[i]);
      }
    }

    function el(tag, cls, text) {
      var e = document.createElement(tag);
      if (cls) { e.className = cls; }
      if (text !== undefined) { e.textContent = text; }
      return e;
    }

    function fail(item, status, sentence) {
      item.classList.add('failed');
      status.textContent = sentence;
    }

    function one(file) {
      var item = el('li', 'card item');
      var title = el('p', 'name', file.name);
      var bar = el('progress');
      bar.max = 100;
      bar.value = 0;
      bar.setAttribute('aria-label', 'Upload of ' + file.name);
      var status = el('p', 'status', 'Uploading…');
      status.setAttribute('role', 'status');
      item.appendChild(title);
      item.appendChild(bar);
      item.appendChild(status);
      results.appendChild(item);

      if (maxSize && file.size > maxSize) {
        bar.remove();
        fail(item, status, 'This file is larger than this server accepts: pick a smaller one.');
        return;
      }
      if (key && !key.value.trim()) {
        bar.remove();
        fail(item, status, 'This server takes uploads only with an API key: enter it above, then pick the file again.');
        return;
      }
      var data = new FormData();
      data.append('expires', document.getElementById('expires').value);
      data.append('maxDownloads', document.getElementById('downloads').value);
      data.append('file', file, file.name);

      var xhr = new XMLHttpRequest();
      xhr.open('POST', '/');
      xhr.setRequestHeader('Accept', 'application/json');
      if (key && key.value.trim()) {
        xhr.setRequestHeader('Authorization', 'Bearer ' + key.value.trim());
      }
      xhr.upload.addEventListener('progress', function (ev) {
        if (ev.lengthComputable) {
          bar.value = Math.floor(ev.loaded * 100 / ev.total);
        }
      });
      xhr.addEventListener('load', function () {
        var answer = null;
        try {
          answer = JSON.parse(xhr.responseText);
        } catch (e) { /* not JSON: described below */ }
        if (xhr.status === 200 && answer && answer.success && answer.link) {
          // The bar stays, full from the upload's last progress event.
          done(item, status, answer);
        } else if (answer && typeof answer.message === 'string') {
          bar.remove();
          fail(item, status, answer.message);
        } else {
          bar.remove();
          fail(item, status, 'The server answered ' + xhr.status + ' ' + xhr.statusText + ': try again later.');
        }
      });
      xhr.addEventListener('error', function () {
        bar.remove();
        fail(item, status, 'The upload broke off: the connection to the server was lost. Check the file is within the server\'s limits and try again.');
      });
      xhr.send(data);
    }

    function done(item, status, answer) {
      item.classList.add('done');
      status.textContent = 'Expires ' + (answer.expiry ? 'in ' + answer.expiry : answer.expires) +
        ', ' + answer.maxDownloads + (answer.maxDownloads === 1 ? ' download' : ' downloads') + '.';
      var row = el('p', 'link');
      var id = 'link-' + answer.key;
      var label = el('label', 'visually-hidden', 'Link to ' + answer.name);
      label.htmlFor = id;
      var input = el('input');
      input.id = id;
      input.type = 'url';
      input.readOnly = true;
      input.value = answer.link;
      input.className = 'link-text';
      var copy = el('button', 'button', 'Copy link');
      copy.type = 'button';
      copy.addEventListener('click', function () {
        var copied = function () { copy.textContent = 'Copied'; };
        if (navigator.clipboard && navigator.clipboard.writeText) {
          navigator.clipboard.writeText(answer.link).then(copied, function () {
            input.select();
            copy.textContent = 'Press Ctrl+C to copy';
          });
        } else {
          input.select();
          copy.textContent = 'Press Ctrl+C to copy';
        }
      });
      row.appendChild(label);
      row.appendChild(input);
      row.appendChild(copy);
      item.appendChild(row);

      var qr = el('figure', 'qr');
      item.appendChild(qr);
      var req = new XMLHttpRequest();
      req.open('GET', '/_/qr/' + encodeURIComponent(answer.key));
      req.addEventListener('load', function () {
        if (req.status !== 200) { qr.remove(); return; }
        var doc = new DOMParser().parseFromString(req.responseText, 'image/svg+xml');
        var svg = document.importNode(doc.documentElement, true);
        svg.setAttribute('role', 'img');
        svg.setAttribute('aria-label', 'QR code of the link to ' + answer.name);
        svg.removeAttribute('width');
        svg.removeAttribute('height');
        qr.appendChild(svg);
      });
      req.addEventListener('error', function () { qr.remove(); });
      req.send();
    }
  }
})();
