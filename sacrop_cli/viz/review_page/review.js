// The page of `sacrop review`: a page of photos at a time, each with one frame per ratio.
// The server is the authority: each change is sent at once, and the photo is drawn again from
// the record it answers with (the box fitted to its ratio in whole pixels).
"use strict";

const PAGE_SIZE = 20;
const MIN_SIDE = 0.04; // of the photo's shorter side: a box is never resized smaller
const token = new URLSearchParams(location.search).get("token") || "";
let offset = 0;
let total = 0;
let saving = Promise.resolve();

function withToken(url) {
  return token ? url + (url.includes("?") ? "&" : "?") + "token=" + encodeURIComponent(token) : url;
}

function status(text, isError) {
  const el = document.getElementById("status");
  el.textContent = text;
  el.classList.toggle("error", Boolean(isError));
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

function place(node, box, photo) {
  node.style.left = (100 * box[0] / photo.width) + "%";
  node.style.top = (100 * box[1] / photo.height) + "%";
  node.style.width = (100 * (box[2] - box[0]) / photo.width) + "%";
  node.style.height = (100 * (box[3] - box[1]) / photo.height) + "%";
}

// -- changes ----------------------------------------------------------------------------

function send(change) {
  // one change at a time, in the order made
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
      const old = document.querySelector(`article[data-index="${body.index}"]`);
      if (old) old.replaceWith(renderPhoto(body));
      status("saved");
    } catch (err) {
      status("not saved: " + err.message, true);
    }
  });
  return saving;
}

// -- dragging ---------------------------------------------------------------------------

function clamp(value, low, high) {
  return Math.min(Math.max(value, low), high);
}

function moved(start, dx, dy, photo) {
  const w = start[2] - start[0];
  const h = start[3] - start[1];
  const x1 = clamp(start[0] + dx, 0, photo.width - w);
  const y1 = clamp(start[1] + dy, 0, photo.height - h);
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
      if (box !== start) {
        send({index: photo.index, ratio: entry.ratio, action: "box", box: box});
      }
    };
    boxNode.addEventListener("pointermove", move);
    boxNode.addEventListener("pointerup", up);
    boxNode.addEventListener("pointercancel", up);
  });
}

// -- drawing ----------------------------------------------------------------------------

function describe(crop) {
  if (crop.chosen === "rank") return `rank ${crop.chosen_rank} chosen`;
  if (crop.chosen === "box") return "your box";
  return "proposed";
}

function renderRatio(photo, entry) {
  const img = el("img", {
    src: withToken(`/thumb/${photo.index}.jpg`), alt: photo.source, loading: "lazy",
    width: photo.width, height: photo.height,
  });
  const frame = el("div", {class: "frame"}, img);
  for (const proposal of entry.proposals) {
    const outline = el("div", {class: "proposal", "data-rank": proposal.rank});
    place(outline, proposal.box, photo);
    frame.append(outline);
  }
  const boxNode = el("div", {class: "box", "data-ratio": entry.ratio, title: "drag to move"});
  for (const corner of ["nw", "ne", "sw", "se"]) {
    boxNode.append(el("span", {class: `handle ${corner}`, "data-corner": corner}));
  }
  place(boxNode, entry.crop.box, photo);
  frame.append(boxNode);
  draggable(boxNode, frame, photo, entry);

  const controls = el("div", {class: "controls"}, el("span", {class: "label"}, entry.ratio));
  const current = entry.crop.chosen === "box" ? null
    : (entry.crop.chosen === "rank" ? entry.crop.chosen_rank : 1);
  for (const proposal of entry.proposals) {
    const button = el("button", {
      type: "button", class: "rank", "data-rank": proposal.rank,
      "aria-pressed": String(proposal.rank === current),
      title: `rank ${proposal.rank}, score ${proposal.score.toFixed(3)}`,
    }, `#${proposal.rank} ${proposal.score.toFixed(2)}`);
    button.addEventListener("click", () => send(
      {index: photo.index, ratio: entry.ratio, action: "rank", rank: proposal.rank}));
    controls.append(button);
  }
  const reset = el("button", {type: "button", class: "reset"}, "Reset");
  reset.addEventListener("click", () => send(
    {index: photo.index, ratio: entry.ratio, action: "reset"}));
  controls.append(reset, el("span", {class: "state"}, describe(entry.crop)));
  return el("section", {class: "ratio", "data-ratio": entry.ratio}, frame, controls);
}

function renderPhoto(photo) {
  const article = el("article", {
    class: "photo", "data-index": photo.index, "data-source": photo.source,
  });
  const title = el("h2", {}, photo.source);
  if (photo.status !== "ok") {
    article.classList.add("error");
    article.append(title, el("p", {class: "error-text"}, photo.error || photo.status));
    return article;
  }
  title.append(el("span", {class: "size"}, `${photo.width} × ${photo.height}`));
  const done = el("input", {type: "checkbox", class: "done", checked: Boolean(photo.reviewed)});
  done.addEventListener("change", () => send(
    {index: photo.index, action: "done", done: done.checked}));
  title.append(el("label", {class: "done-toggle"}, done, " done"));
  article.classList.toggle("done", Boolean(photo.reviewed));
  article.append(title, el("div", {class: "ratios"}, ...photo.ratios.map(
    (entry) => renderRatio(photo, entry))));
  return article;
}

async function load(start) {
  status("loading…");
  try {
    const answer = await fetch(withToken(`/api/photos?offset=${start}&limit=${PAGE_SIZE}`));
    const body = await answer.json();
    if (!answer.ok) throw new Error(body.error || answer.statusText);
    offset = start;
    total = body.total;
    document.getElementById("file").textContent = body.file;
    document.getElementById("photos").replaceChildren(...body.photos.map(renderPhoto));
    const pages = Math.max(1, Math.ceil(total / PAGE_SIZE));
    const page = Math.floor(offset / PAGE_SIZE) + 1;
    for (const info of document.querySelectorAll(".pageinfo")) {
      info.textContent = `page ${page} of ${pages} (${total} photos)`;
    }
    for (const b of document.querySelectorAll(".prev")) b.disabled = offset === 0;
    for (const b of document.querySelectorAll(".next")) b.disabled = offset + PAGE_SIZE >= total;
    // the token leaves the address bar; the cookie the server set carries it from now on
    history.replaceState(null, "", `${location.pathname}#page=${page}`);
    document.body.dataset.loaded = String(page);
    status("");
  } catch (err) {
    status("cannot load the photos: " + err.message, true);
  }
}

document.addEventListener("DOMContentLoaded", () => {
  for (const b of document.querySelectorAll(".prev")) {
    b.addEventListener("click", () => load(Math.max(0, offset - PAGE_SIZE)));
  }
  for (const b of document.querySelectorAll(".next")) {
    b.addEventListener("click", () => load(offset + PAGE_SIZE));
  }
  const page = Number((location.hash.match(/page=(\d+)/) || [])[1] || 1);
  load((page - 1) * PAGE_SIZE);
});
