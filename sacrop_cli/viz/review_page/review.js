// The page of `sacrop review`, for culling: the selected photo large, the others small in a
// strip, the keyboard for everything (? lists the keys). The server is the authority: each
// change is sent at once and the photo drawn again from the record it answers with (a moved
// box scored by the network, fitted to its ratio in whole pixels).
"use strict";

const CHUNK = 100; // photos asked for at once (the server's most)
const MIN_SIDE = 0.04; // of the photo's shorter side: a box is never made smaller
const STEP = 0.01; // an arrow key moves the crop by this share of the photo's side
const BIG_STEP = 0.1; // with Shift
const GROW = 0.02; // + and - grow and shrink the crop by this share
const token = new URLSearchParams(location.search).get("token") || "";

const state = {
  photos: [], // views by position among the photos shown (undefined: not loaded yet)
  total: 0,
  done: 0,
  selected: 0,
  ratio: {}, // photo index -> position of the ratio shown
  pending: {}, // photo index -> changes sent and not answered yet
};
let saving = Promise.resolve();
window.__saves = 0; // answers saved (the tests wait on it)

function withToken(url) {
  return token ? url + (url.includes("?") ? "&" : "?") + "token=" + encodeURIComponent(token) : url;
}

function status(text, isError) {
  const node = document.getElementById("status");
  node.textContent = text;
  node.classList.toggle("error", Boolean(isError));
}

function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (key === "class") node.className = value;
    else if (key.startsWith("data-") || key.startsWith("aria-") || key === "type") {
      node.setAttribute(key, value);
    } else node[key] = value;
  }
  for (const child of children) node.append(child);
  return node;
}

function clamp(value, low, high) {
  return Math.min(Math.max(value, low), high);
}

function place(node, box, photo) {
  node.style.left = (100 * box[0] / photo.width) + "%";
  node.style.top = (100 * box[1] / photo.height) + "%";
  node.style.width = (100 * (box[2] - box[0]) / photo.width) + "%";
  node.style.height = (100 * (box[3] - box[1]) / photo.height) + "%";
}

// -- scores a person reads ---------------------------------------------------------------

function compared(score, first) {
  // a score said against rank 1's: the network's numbers mean nothing on their own
  const diff = score - first;
  if (Math.abs(diff) < 0.01) return "as good as #1";
  if (diff > 0) return "better than #1";
  if (diff > -0.05) return "close to #1";
  if (diff > -0.15) return "a little below #1";
  return "well below #1";
}

function firstScore(entry) {
  const first = entry.proposals.find((p) => p.rank === 1);
  return first ? first.score : entry.crop.score;
}

function describe(entry) {
  const crop = entry.crop;
  if (crop.chosen === "rank") return `rank ${crop.chosen_rank} chosen`;
  if (crop.chosen === "box") return `your crop: ${compared(crop.score, firstScore(entry))}`;
  return "sacrop's pick (rank 1)";
}

// -- changes ----------------------------------------------------------------------------

function send(change) {
  // one change at a time, in the order made; the photo is drawn from the answer once no
  // later change of it is on its way
  const index = change.index;
  state.pending[index] = (state.pending[index] || 0) + 1;
  saving = saving.then(async () => {
    status("saving…");
    try {
      const answer = await fetch(withToken("/api/change"), {
        method: "POST",
        headers: {"Content-Type": "application/json"},
        body: JSON.stringify(change),
      });
      const body = await answer.json();
      if (!answer.ok) throw new Error(body.error || answer.statusText);
      state.pending[index] -= 1;
      update(body);
      window.__saves += 1;
      status("saved");
    } catch (err) {
      state.pending[index] -= 1;
      status("not saved: " + err.message, true);
    }
  });
  return saving;
}

function update(view) {
  const at = state.photos.findIndex((p) => p && p.index === view.index);
  if (at < 0) return;
  const before = Boolean(state.photos[at].reviewed);
  state.done += Number(Boolean(view.reviewed)) - Number(before);
  if (state.pending[view.index] > 0) {
    state.photos[at].reviewed = view.reviewed; // the crops stay as drawn until the last answer
  } else {
    state.photos[at] = view;
  }
  progress();
  renderThumb(at);
  if (at === state.selected) renderStage();
}

function current() {
  const photo = state.photos[state.selected];
  if (!photo || photo.status !== "ok" || !photo.ratios.length) return [photo, null];
  const at = (state.ratio[photo.index] || 0) % photo.ratios.length;
  return [photo, photo.ratios[at]];
}

function setBox(photo, entry, box) {
  // drawn at once, saved and scored by the server
  const w = box[2] - box[0];
  const h = box[3] - box[1];
  const x1 = Math.round(box[0]);
  const y1 = Math.round(box[1]);
  const whole = Number.isInteger(w) && Number.isInteger(h);
  const sent = whole ? [x1, y1, x1 + w, y1 + h] : box.map((v) => Math.round(v * 100) / 100);
  entry.crop = {...entry.crop, box: sent, chosen: "box"};
  renderStage();
  send({index: photo.index, ratio: entry.ratio, action: "box", box: sent});
}

function moveBy(dx, dy) {
  const [photo, entry] = current();
  if (!entry) return;
  const b = entry.crop.box;
  const w = b[2] - b[0];
  const h = b[3] - b[1];
  const x1 = clamp(b[0] + dx, 0, photo.width - w);
  const y1 = clamp(b[1] + dy, 0, photo.height - h);
  if (x1 !== b[0] || y1 !== b[1]) setBox(photo, entry, [x1, y1, x1 + w, y1 + h]);
}

function grow(factor) {
  const [photo, entry] = current();
  if (!entry) return;
  const b = entry.crop.box;
  const aspect = entry.aspect || (b[2] - b[0]) / (b[3] - b[1]);
  const least = MIN_SIDE * Math.min(photo.width, photo.height);
  let w = Math.max((b[2] - b[0]) * factor, least * Math.max(1, aspect));
  let h = w / aspect;
  if (w > photo.width) { w = photo.width; h = w / aspect; }
  if (h > photo.height) { h = photo.height; w = h * aspect; }
  const x1 = clamp((b[0] + b[2] - w) / 2, 0, photo.width - w);
  const y1 = clamp((b[1] + b[3] - h) / 2, 0, photo.height - h);
  setBox(photo, entry, [x1, y1, x1 + w, y1 + h]);
}

function pickRank(rank) {
  const [photo, entry] = current();
  if (!entry || !entry.proposals.some((p) => p.rank === rank)) return;
  send({index: photo.index, ratio: entry.ratio, action: "rank", rank: rank});
}

function reset() {
  const [photo, entry] = current();
  if (entry) send({index: photo.index, ratio: entry.ratio, action: "reset"});
}

function markDone() {
  const photo = state.photos[state.selected];
  if (photo && photo.status === "ok") send({index: photo.index, action: "done", done: true});
  select(state.selected + 1);
}

function nextRatio() {
  const [photo, entry] = current();
  if (!entry) return;
  state.ratio[photo.index] = ((state.ratio[photo.index] || 0) + 1) % photo.ratios.length;
  renderStage();
}

// -- dragging ---------------------------------------------------------------------------

function moved(start, dx, dy, photo) {
  // the size kept exactly: only the corner moves
  const w = start[2] - start[0];
  const h = start[3] - start[1];
  const x1 = Math.round(clamp(start[0] + dx, 0, photo.width - w));
  const y1 = Math.round(clamp(start[1] + dy, 0, photo.height - h));
  return [x1, y1, x1 + w, y1 + h];
}

function resized(start, corner, point, photo, aspect) {
  // the opposite corner stays; the ratio (when fixed) is held
  const ax = corner.includes("w") ? start[2] : start[0];
  const ay = corner.includes("n") ? start[3] : start[1];
  const maxW = corner.includes("w") ? ax : photo.width - ax;
  const maxH = corner.includes("n") ? ay : photo.height - ay;
  const least = MIN_SIDE * Math.min(photo.width, photo.height);
  let w = clamp(Math.abs(point[0] - ax), least, maxW);
  let h = clamp(Math.abs(point[1] - ay), least, maxH);
  if (aspect) {
    w = Math.max(w, h * aspect);
    h = w / aspect;
    if (w > maxW) { w = maxW; h = w / aspect; }
    if (h > maxH) { h = maxH; w = h * aspect; }
  }
  const x1 = corner.includes("w") ? ax - w : ax;
  const y1 = corner.includes("n") ? ay - h : ay;
  return [x1, y1, x1 + w, y1 + h];
}

function draggable(boxNode, frame, photo, entry) {
  boxNode.addEventListener("pointerdown", (event) => {
    event.preventDefault();
    const corner = event.target.dataset.corner || "";
    const rect = frame.getBoundingClientRect();
    const scale = photo.width / rect.width;
    const start = entry.crop.box;
    const from = [event.clientX, event.clientY];
    let box = start;
    boxNode.setPointerCapture(event.pointerId);
    const move = (e) => {
      if (corner) {
        const point = [(e.clientX - rect.left) * scale, (e.clientY - rect.top) * scale];
        box = resized(start, corner, point, photo, entry.aspect);
      } else {
        box = moved(start, (e.clientX - from[0]) * scale, (e.clientY - from[1]) * scale, photo);
      }
      place(boxNode, box, photo);
    };
    const up = () => {
      boxNode.removeEventListener("pointermove", move);
      boxNode.removeEventListener("pointerup", up);
      boxNode.removeEventListener("pointercancel", up);
      if (box.some((v, i) => v !== start[i])) setBox(photo, entry, box);
    };
    boxNode.addEventListener("pointermove", move);
    boxNode.addEventListener("pointerup", up);
    boxNode.addEventListener("pointercancel", up);
  });
}

// -- drawing ----------------------------------------------------------------------------

function fitFrame(frame, photo, view) {
  // as large as the window allows, the photo's shape kept
  const scale = Math.min(view.clientWidth / photo.width, view.clientHeight / photo.height);
  frame.style.width = Math.max(1, Math.floor(photo.width * scale)) + "px";
  frame.style.height = Math.max(1, Math.floor(photo.height * scale)) + "px";
}

function renderFrame(photo, entry) {
  const img = el("img", {src: withToken(`/view/${photo.index}.jpg`), alt: photo.source});
  const frame = el("div", {class: "frame"}, img);
  for (const proposal of entry.proposals) {
    if (proposal.rank === 1 && entry.crop.chosen === undefined) continue; // it is the box
    const outline = el("div", {class: "proposal", "data-rank": proposal.rank},
      el("span", {class: "rank-label"}, String(proposal.rank)));
    place(outline, proposal.box, photo);
    frame.append(outline);
  }
  const label = entry.crop.chosen === "box" ? "yours"
    : String(entry.crop.chosen === "rank" ? entry.crop.chosen_rank : 1);
  const boxNode = el("div", {class: "box", "data-ratio": entry.ratio, title: "drag to move"},
    el("span", {class: "rank-label"}, label));
  for (const corner of ["nw", "ne", "sw", "se"]) {
    boxNode.append(el("span", {class: `handle ${corner}`, "data-corner": corner}));
  }
  place(boxNode, entry.crop.box, photo);
  frame.append(boxNode);
  draggable(boxNode, frame, photo, entry);
  return frame;
}

function renderControls(photo, entry) {
  const first = firstScore(entry);
  const chosen = entry.crop.chosen === "box" ? null
    : (entry.crop.chosen === "rank" ? entry.crop.chosen_rank : 1);
  const controls = el("div", {class: "controls"});
  const rows = [];
  for (const proposal of entry.proposals) {
    const how = proposal.rank === 1 ? "sacrop's pick" : compared(proposal.score, first);
    const button = el("button", {
      type: "button", class: "rank", "data-rank": proposal.rank,
      "aria-pressed": String(proposal.rank === chosen), title: `key ${proposal.rank}`,
    }, `#${proposal.rank}`, el("span", {class: "how"}, how));
    button.addEventListener("click", () => pickRank(proposal.rank));
    controls.append(button);
    rows.push(el("tr", {}, el("td", {}, `#${proposal.rank}`),
      el("td", {}, proposal.score.toFixed(4)), el("td", {}, (proposal.score - first).toFixed(4))));
  }
  const back = el("button", {type: "button", class: "reset", title: "key 0"}, "Reset");
  back.addEventListener("click", reset);
  controls.append(back, el("span", {class: "state"}, describe(entry)));
  if (entry.crop.chosen === "box") {
    rows.push(el("tr", {}, el("td", {}, "yours"), el("td", {}, entry.crop.score.toFixed(4)),
      el("td", {}, (entry.crop.score - first).toFixed(4))));
  }
  const detail = el("details", {class: "scores"}, el("summary", {}, "the network's scores"),
    el("table", {}, el("tr", {}, el("th", {}, "crop"), el("th", {}, "score"),
      el("th", {}, "against #1")), ...rows));
  return [controls, detail];
}

function renderStage() {
  const stage = document.getElementById("stage");
  const [photo, entry] = current();
  if (!photo) {
    stage.replaceChildren(el("p", {}, state.total ? "loading…" : "no photos to review"));
    return;
  }
  const article = el("article", {
    class: "photo", "data-index": photo.index, "data-source": photo.source,
    "data-position": state.selected,
  });
  const title = el("h2", {}, photo.source);
  const head = el("div", {class: "photo-head"}, title);
  if (!entry) {
    article.classList.add("error");
    article.append(head, el("p", {class: "error-text"}, photo.error || photo.status));
    stage.replaceChildren(article);
    return;
  }
  const done = el("input", {type: "checkbox", class: "done", checked: Boolean(photo.reviewed)});
  done.addEventListener("change", () => send(
    {index: photo.index, action: "done", done: done.checked}));
  head.append(el("span", {class: "size"}, `${photo.width} × ${photo.height}`),
    el("span", {class: "where"}, `${state.selected + 1} of ${state.total}`),
    el("label", {}, done, " done"));
  article.classList.toggle("done", Boolean(photo.reviewed));
  const bar = el("div", {class: "ratios-bar"});
  photo.ratios.forEach((r, i) => {
    const button = el("button", {type: "button", class: "ratio", "data-ratio": r.ratio,
      "aria-pressed": String(r === entry), title: "key r: next ratio"}, r.ratio);
    button.addEventListener("click", () => { state.ratio[photo.index] = i; renderStage(); });
    bar.append(button);
  });
  const view = el("div", {class: "view"});
  const frame = renderFrame(photo, entry);
  view.append(frame);
  article.append(head, bar, view, ...renderControls(photo, entry));
  article.dataset.ratio = entry.ratio;
  stage.replaceChildren(article);
  fitFrame(frame, photo, view);
}

function renderThumb(at) {
  const node = document.querySelector(`#strip .thumb[data-position="${at}"]`);
  const photo = state.photos[at];
  if (!node || !photo) return;
  node.classList.toggle("selected", at === state.selected);
  node.classList.toggle("done", Boolean(photo.reviewed));
  node.classList.toggle("error", photo.status !== "ok");
}

function renderStrip() {
  const strip = document.getElementById("strip");
  const nodes = [];
  state.photos.forEach((photo, at) => {
    if (!photo) return;
    const img = photo.status === "ok"
      ? el("img", {src: withToken(`/thumb/${photo.index}.jpg`), alt: "", loading: "lazy"})
      : el("span", {}, "✗");
    const node = el("a", {class: "thumb", "data-position": at, title: photo.source}, img);
    node.addEventListener("click", () => select(at));
    nodes.push(node);
  });
  strip.replaceChildren(...nodes);
  state.photos.forEach((_, at) => renderThumb(at));
}

function progress() {
  document.getElementById("progress").textContent = `${state.done} of ${state.total} done`;
}

// -- loading and moving through the photos ----------------------------------------------

async function load(start) {
  status("loading…");
  const answer = await fetch(withToken(`/api/photos?offset=${start}&limit=${CHUNK}`));
  const body = await answer.json();
  if (!answer.ok) throw new Error(body.error || answer.statusText);
  state.total = body.total;
  state.done = body.done;
  body.photos.forEach((photo, i) => { state.photos[start + i] = photo; });
  document.getElementById("file").textContent = body.file;
  renderStrip();
  progress();
  status("");
}

async function select(at) {
  if (at < 0 || at >= state.total) return;
  state.selected = at;
  if (!state.photos[at]) {
    try {
      await load(Math.floor(at / CHUNK) * CHUNK);
    } catch (err) {
      status("cannot load the photos: " + err.message, true);
      return;
    }
  }
  for (const node of document.querySelectorAll("#strip .thumb.selected")) {
    node.classList.remove("selected");
  }
  renderThumb(at);
  const thumb = document.querySelector(`#strip .thumb[data-position="${at}"]`);
  if (thumb) thumb.scrollIntoView({block: "nearest"});
  renderStage();
  history.replaceState(null, "", `${location.pathname}#photo=${at + 1}`);
}

function toggleKeys(show) {
  const keys = document.getElementById("keys");
  keys.hidden = show === undefined ? !keys.hidden : !show;
}

function onKey(event) {
  if (event.ctrlKey || event.altKey || event.metaKey) return;
  const photo = state.photos[state.selected];
  const side = photo ? [photo.width, photo.height] : [0, 0];
  const step = event.shiftKey ? BIG_STEP : STEP;
  const dx = Math.max(1, Math.round(step * side[0]));
  const dy = Math.max(1, Math.round(step * side[1]));
  const actions = {
    j: () => select(state.selected + 1),
    k: () => select(state.selected - 1),
    r: nextRatio,
    ArrowLeft: () => moveBy(-dx, 0),
    ArrowRight: () => moveBy(dx, 0),
    ArrowUp: () => moveBy(0, -dy),
    ArrowDown: () => moveBy(0, dy),
    "+": () => grow(1 + GROW),
    "=": () => grow(1 + GROW),
    "-": () => grow(1 - GROW),
    0: reset,
    d: markDone,
    Enter: markDone,
    "?": () => toggleKeys(),
    Escape: () => toggleKeys(false),
  };
  const key = event.key.length === 1 && /[A-Z]/.test(event.key) ? event.key.toLowerCase() : event.key;
  const action = /^[1-9]$/.test(key) ? () => pickRank(Number(key)) : actions[key];
  if (action === undefined) return;
  event.preventDefault();
  action();
}

document.addEventListener("DOMContentLoaded", async () => {
  document.getElementById("keys-button").addEventListener("click", () => toggleKeys());
  document.addEventListener("keydown", onKey);
  window.addEventListener("resize", renderStage);
  const wanted = Number((location.hash.match(/photo=(\d+)/) || [])[1] || 1) - 1;
  try {
    await load(Math.floor(Math.max(0, wanted) / CHUNK) * CHUNK);
  } catch (err) {
    status("cannot load the photos: " + err.message, true);
    return;
  }
  // the token leaves the address bar; the cookie the server set carries it from now on
  await select(clamp(wanted, 0, Math.max(0, state.total - 1)));
  if (!state.total) renderStage();
  document.body.dataset.loaded = "1";
});
