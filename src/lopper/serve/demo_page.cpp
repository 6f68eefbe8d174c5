#include "lopper/serve/demo_page.h"

namespace lopper {

namespace {

// Element ids and classes are part of the contract with tests/serve/demo_browser_test.cpp:
// #prompt #max-new-tokens #greedy #temperature #top-k #top-p #seed #generate #stop #message, and per
// model a .column (#col-I) holding .name, .meta, .output > .prompt + .gen, and .status whose
// data-state is idle | queued | running | done | error. Settings go to the server as typed: it
// validates them and its message is shown (one source of truth for what is allowed).
constexpr std::string_view kPage = R"HTML(<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>lopper demo</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>
body{font:15px/1.45 system-ui,sans-serif;margin:0;background:#f4f6f9;color:#1d2330}
header{padding:12px 22px;background:#1d2330;color:#fff}
header h1{margin:0;font-size:19px} header p{margin:2px 0 0;color:#b8c0d0;font-size:13px}
main{padding:14px 22px}
#prompt{width:100%;box-sizing:border-box;min-height:64px;font:inherit;padding:8px;
  border:1px solid #c8ced8;border-radius:6px}
.settings{display:flex;flex-wrap:wrap;gap:12px;align-items:flex-end;margin:10px 0}
.settings label{display:flex;flex-direction:column;font-size:12px;color:#556}
.settings input[type=text]{width:78px;padding:5px;border:1px solid #c8ced8;border-radius:5px;font:inherit}
.settings label.check{flex-direction:row;align-items:center;gap:6px;font-size:14px;color:#1d2330;padding-bottom:6px}
button{padding:7px 18px;border:0;border-radius:6px;background:#2d6cdf;color:#fff;font:inherit;cursor:pointer}
button#stop{background:#8a93a5}
#message{color:#b00020;margin:4px 0 8px;min-height:1.2em;white-space:pre-wrap}
#columns{display:grid;grid-template-columns:repeat(auto-fit,minmax(260px,1fr));gap:14px}
.column{background:#fff;border:1px solid #dde2ea;border-radius:8px;padding:12px;display:flex;flex-direction:column}
.column h2{margin:0;font-size:16px;word-break:break-all}
.meta{font-size:12px;color:#667;margin:2px 0 8px}
.output{white-space:pre-wrap;overflow-wrap:anywhere;font:14px/1.5 ui-monospace,monospace;min-height:120px;
  margin:0;flex:1}
.output .prompt{color:#8a93a5}
.status{font-size:12.5px;margin-top:8px;color:#445}
.status[data-state=error]{color:#b00020} .status[data-state=done]{color:#1b7a3a}
</style></head>
<body>
<header><h1>lopper demo</h1>
<p>One prompt, the same settings, every model continues it in its own column (models take turns, so
each one's tokens/s is measured alone).</p></header>
<main>
<textarea id="prompt" placeholder="Type a prompt">Once upon a time</textarea>
<div class="settings">
<label>max new tokens<input id="max-new-tokens" type="text" value="64"></label>
<label class="check"><input id="greedy" type="checkbox" checked>greedy</label>
<label>temperature<input id="temperature" type="text" value="0.8"></label>
<label>top-k<input id="top-k" type="text" value="40"></label>
<label>top-p<input id="top-p" type="text" value="0.95"></label>
<label>seed<input id="seed" type="text" value="0"></label>
<button id="generate">Generate</button><button id="stop">Stop</button>
</div>
<div id="message"></div>
<div id="columns"></div>
</main>
<script>
'use strict';
const $ = s => document.querySelector(s);
let models = [], aborter = null;

function bytes(b) {
  const u = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let i = 0;
  while (b >= 1024 && i < u.length - 1) { b /= 1024; i++; }
  return (i ? b.toFixed(1) : b) + ' ' + u[i];
}
function count(n) {
  if (n >= 1e9) return (n / 1e9).toFixed(2) + 'B';
  if (n >= 1e6) return (n / 1e6).toFixed(1) + 'M';
  if (n >= 1e3) return (n / 1e3).toFixed(1) + 'K';
  return String(n);
}
function el(tag, cls, text) {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text !== undefined) e.textContent = text;  // textContent only: model output is never HTML
  return e;
}
function setStatus(col, state, text) {
  const s = col.querySelector('.status');
  s.dataset.state = state;
  s.textContent = text;
}

async function loadModels() {
  try {
    const r = await fetch('/api/models');
    models = (await r.json()).models;
  } catch (e) {
    $('#message').textContent = 'cannot reach the lopper server: ' + e.message;
    return;
  }
  const base = models.length ? models[0].params : 1;
  models.forEach((m, i) => {
    const col = el('div', 'column');
    col.id = 'col-' + i;
    col.append(el('h2', 'name', m.name));
    const pct = i ? ' (' + (100 * m.params / base).toFixed(1) + '% of ' + models[0].name + ')' : '';
    col.append(el('div', 'meta', count(m.params) + ' parameters' + pct + ' · weights ' +
                  bytes(m.weight_bytes) + ' · ' + m.dtype + ' on ' + m.device));
    const out = el('pre', 'output');
    out.append(el('span', 'prompt'), el('span', 'gen'));
    col.append(out, el('div', 'status', 'ready'));
    col.querySelector('.status').dataset.state = 'idle';
    $('#columns').append(col);
  });
}

function settings() {
  return {
    prompt: $('#prompt').value, max_new_tokens: $('#max-new-tokens').value,
    greedy: $('#greedy').checked, temperature: $('#temperature').value,
    top_k: $('#top-k').value, top_p: $('#top-p').value, seed: $('#seed').value,
  };
}

function onEvent(col, ev, st) {
  const gen = col.querySelector('.gen');
  if (ev.type === 'start') {
    setStatus(col, 'running', 'generating…');
  } else if (ev.type === 'token') {
    st.text += ev.text;
    st.n++;
    gen.textContent = st.text;
    setStatus(col, 'running', st.n + ' tokens…');
  } else if (ev.type === 'done') {
    st.ended = true;
    gen.textContent = ev.text;  // the exact decode of all new ids
    setStatus(col, 'done', ev.new_tokens + ' tokens in ' + ev.seconds.toFixed(2) + ' s · ' +
              ev.tokens_per_s.toFixed(1) + ' tokens/s · first token ' +
              (1000 * ev.first_token_s).toFixed(0) + ' ms · process peak RSS ' + bytes(ev.peak_rss_bytes));
  } else if (ev.type === 'error') {
    st.ended = true;
    setStatus(col, 'error', ev.error);
  }
}

async function runColumn(i, body, signal) {
  const col = $('#col-' + i);
  col.querySelector('.prompt').textContent = body.prompt;
  col.querySelector('.gen').textContent = '';
  setStatus(col, 'queued', 'waiting for its turn…');
  const st = {text: '', n: 0, ended: false};
  try {
    const r = await fetch('/api/generate', {method: 'POST', headers: {'Content-Type': 'application/json'},
                                            body: JSON.stringify(Object.assign({model: i}, body)), signal});
    if (!r.ok) {
      let msg = 'HTTP ' + r.status;
      try { msg = (await r.json()).error || msg; } catch (e) {}
      setStatus(col, 'error', msg);
      $('#message').textContent = msg;
      return;
    }
    const reader = r.body.getReader(), dec = new TextDecoder();
    let buf = '';
    for (;;) {
      const {value, done} = await reader.read();
      if (done) break;
      buf += dec.decode(value, {stream: true});
      let k;
      while ((k = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, k);
        buf = buf.slice(k + 1);
        if (line) onEvent(col, JSON.parse(line), st);
      }
    }
    if (!st.ended) setStatus(col, 'error', 'the server ended the stream early');
  } catch (e) {
    // An aborted run whose column a newer run already took over stays quiet.
    if (!signal.aborted) setStatus(col, 'error', 'connection failed: ' + e.message);
    else if (aborter.signal === signal) setStatus(col, 'error', 'stopped');
  }
}

$('#generate').addEventListener('click', () => {
  if (aborter) aborter.abort();
  aborter = new AbortController();
  $('#message').textContent = '';
  const body = settings();
  models.forEach((m, i) => runColumn(i, body, aborter.signal));
});
$('#stop').addEventListener('click', () => { if (aborter) aborter.abort(); });
loadModels();
</script>
</body></html>
)HTML";

}  // namespace

std::string_view demo_page_html() { return kPage; }

}  // namespace lopper
