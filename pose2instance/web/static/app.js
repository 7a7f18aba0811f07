// The pose2instance page: sends the form to /api/segment and draws the answer on a canvas.
// Each person's mask PNG is tinted once in its colour; toggling a person redraws photo + visible layers.
"use strict";

const $ = (id) => document.getElementById(id);
const form = $("form");
let options = null;
let shown = null; // {result, photo, layers: [canvas], visible: [bool]}

function el(tag, text, attrs = {}) {
  const node = document.createElement(tag);
  if (text !== undefined && text !== null) node.textContent = text; // never innerHTML: names come from uploads
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
  return node;
}

function fmt(x, digits = 3) {
  return x === null || x === undefined ? "–" : Number(x).toFixed(digits);
}

function showError(message) {
  $("error").textContent = message;
  $("error").hidden = false;
}

async function loadOptions() {
  const response = await fetch("/api/options");
  options = await response.json();
  for (const [field, key] of [["estimator", "estimators"], ["score", "scores"], ["prior", "priors"]]) {
    const select = $(field);
    select.replaceChildren(...options[key].map((name) => el("option", name, { value: name })));
    select.value = options.defaults[field];
  }
  $("limit").textContent = `Uploads: at most ${(options.max_upload_bytes / 2 ** 20).toFixed(0)} MB per request ` +
    "(photo and files together). Files stay in the server's temporary folder.";
}

function loadImage(url) {
  return new Promise((resolve, reject) => {
    const image = new Image();
    image.onload = () => resolve(image);
    image.onerror = () => reject(new Error(`could not load ${url}`));
    image.src = url;
  });
}

// A person's mask tinted in its colour (alpha 0.5) with an opaque outline, as a canvas the size of the mask's
// bounding box [x, y, w, h] (one full-size canvas per person would not fit in memory for large photos).
function tintedLayer(mask, colour, [x0, y0, w, h]) {
  const canvas = el("canvas");
  canvas.width = Math.max(w, 1);
  canvas.height = Math.max(h, 1);
  const ctx = canvas.getContext("2d");
  if (w === 0 || h === 0) return canvas;
  ctx.drawImage(mask, x0, y0, w, h, 0, 0, w, h);
  const data = ctx.getImageData(0, 0, w, h);
  const px = data.data;
  const inside = new Uint8Array(w * h);
  for (let i = 0; i < w * h; i++) inside[i] = px[4 * i] > 127 ? 1 : 0;
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const i = y * w + x;
      if (!inside[i]) { px[4 * i + 3] = 0; continue; }
      const edge = x === 0 || y === 0 || x === w - 1 || y === h - 1 ||
        !inside[i - 1] || !inside[i + 1] || !inside[i - w] || !inside[i + w];
      px[4 * i] = colour[0]; px[4 * i + 1] = colour[1]; px[4 * i + 2] = colour[2];
      px[4 * i + 3] = edge ? 255 : 128;
    }
  }
  ctx.putImageData(data, 0, 0);
  return canvas;
}

function draw() {
  const { result, photo, layers, visible } = shown;
  const canvas = $("canvas");
  const ctx = canvas.getContext("2d");
  ctx.drawImage(photo, 0, 0);
  result.people.forEach((p, i) => { if (visible[i]) ctx.drawImage(layers[i], p.mask_bbox[0], p.mask_bbox[1]); });
  const width = Math.max(2, Math.round(Math.max(canvas.width, canvas.height) / 300));
  result.people.forEach((p, i) => {
    if (!visible[i]) return;
    const colour = `rgb(${p.colour.join(",")})`;
    ctx.strokeStyle = colour;
    ctx.lineWidth = width;
    for (const [a, b] of result.skeleton) {
      if (!p.drawn[a] || !p.drawn[b]) continue;
      const hidden = p.hidden[a] || p.hidden[b];  // a hidden joint: a thin dashed limb
      ctx.lineWidth = hidden ? 1 : width;
      ctx.setLineDash(hidden ? [4, 4] : []);
      ctx.beginPath();
      ctx.moveTo(p.keypoints[a][0], p.keypoints[a][1]);
      ctx.lineTo(p.keypoints[b][0], p.keypoints[b][1]);
      ctx.stroke();
    }
    ctx.setLineDash([]);
    ctx.fillStyle = "#fff";
    ctx.lineWidth = 1;
    p.keypoints.forEach(([x, y], k) => {
      if (!p.drawn[k]) return;
      ctx.beginPath();
      ctx.arc(x, y, width + 1, 0, 2 * Math.PI);
      if (!p.hidden[k]) ctx.fill();  // hidden: a hollow dot
      ctx.stroke();
    });
    const label = String(p.index);  // the person's number at the top left of its box
    ctx.font = `bold ${4 * width + 6}px sans-serif`;
    const x0 = Math.max(p.box[0], 0), y0 = Math.max(p.box[1], 0), w = ctx.measureText(label).width + 6;
    ctx.fillStyle = colour;
    ctx.fillRect(x0, y0, w, 4 * width + 10);
    ctx.fillStyle = p.colour.reduce((s, c) => s + c, 0) > 450 ? "#000" : "#fff";
    ctx.textBaseline = "top";
    ctx.fillText(label, x0 + 3, y0 + 2);
  });
}

function people(n) {
  return n === 1 ? "1 person" : `${n} people`;
}

function fillTables(result) {
  const rows = result.people.map((p, i) => {
    const toggle = el("input", null, { type: "checkbox", "aria-label": `show person ${p.index}` });
    toggle.checked = true;
    toggle.addEventListener("change", () => { shown.visible[i] = toggle.checked; draw(); });
    const name = el("td");
    name.append(el("span", null, { class: "swatch", style: `background: rgb(${p.colour.join(",")})` }),
      `person ${p.index}`);
    const link = el("a", "PNG", { href: p.mask_url, download: p.mask_url.split("/").pop() });
    const row = el("tr", null, { "data-person": p.index });
    const cell = (child) => { const td = el("td"); td.append(child); return td; };
    row.append(cell(toggle), name, el("td", fmt(p.score)), el("td", fmt(p.mask_score)), el("td", p.area),
      el("td", fmt(p.iou)), cell(link));
    return row;
  });
  $("people").tBodies[0].replaceChildren(...rows);
  const s = result.settings;
  const gt = result.ground_truth;
  $("summary").textContent = `${people(result.people.length)} (${s.people}), person score ${s.score}, ` +
    `prior ${s.prior}` + (gt === null ? "; no ground truth, no IoU" :
      `; ground truth: ${gt.persons - gt.missed} of ${people(gt.persons)} found` +
      (gt.mean_iou === null ? "" : `, mean IoU over all ${gt.persons}: ${fmt(gt.mean_iou)} (a missed one counts 0)`));
  $("timings").tBodies[0].replaceChildren(...Object.entries(result.timings_ms).map(([stage, ms]) => {
    const row = el("tr");
    row.append(el("td", stage), el("td", `${ms.toFixed(0)} ms`));
    return row;
  }));
  const stem = result.image.name.replace(/\.[^.]*$/, "");
  const save = el("a", "overlay (PNG, the people shown)", { href: "#", id: "save-overlay" });
  save.addEventListener("click", (event) => {
    event.preventDefault();
    $("canvas").toBlob((blob) => {
      const a = el("a", null, { href: URL.createObjectURL(blob), download: `${stem}_overlay.png` });
      a.click();
      setTimeout(() => URL.revokeObjectURL(a.href), 1000);
    });
  });
  const links = [
    el("a", "COCO results (JSON)", { href: result.downloads.results, id: "download-results",
      download: result.downloads.results.split("/").pop() }),
    el("a", "all masks (ZIP of PNGs)", { href: result.downloads.masks_zip, download: result.downloads.masks_zip.split("/").pop() }),
    save,
  ];
  $("downloads").replaceChildren(...links.map((a) => { const li = el("li"); li.append(a); return li; }));
  $("notes").replaceChildren(...result.notes.map((n) => el("li", n)));
}

async function show(result, roundTripMs) {
  const [photo, ...masks] = await Promise.all([loadImage(result.image.url), ...result.people.map((p) => loadImage(p.mask_url))]);
  const canvas = $("canvas");
  canvas.width = result.image.width;
  canvas.height = result.image.height;
  shown = { result, photo, layers: masks.map((m, i) => tintedLayer(m, result.people[i].colour, result.people[i].mask_bbox)),
    visible: result.people.map(() => true) };
  draw();
  fillTables(result);
  canvas.hidden = false;
  $("result").hidden = false;
  $("status").textContent = `Done: ${people(result.people.length)}, ${roundTripMs.toFixed(0)} ms ` +
    `(server ${result.timings_ms["total (server)"].toFixed(0)} ms).`;
}

async function run(demo) {
  $("error").hidden = true;
  $("result").hidden = $("canvas").hidden = true; // never show an earlier result beside a new photo's error
  const data = new FormData(form);
  data.set("demo", demo ? "1" : "0");
  data.set("demo_keypoints", $("demo_keypoints").checked ? "1" : "0");
  if (demo) data.delete("photo");
  else if (!$("photo").files.length) { showError("Choose a photo first, or use the demo photo."); return; }
  let bytes = 0;
  for (const value of data.values()) if (value instanceof File) bytes += value.size;
  if (options && bytes > options.max_upload_bytes) {
    showError(`These files are ${(bytes / 2 ** 20).toFixed(1)} MB; the server accepts at most ` +
      `${(options.max_upload_bytes / 2 ** 20).toFixed(0)} MB per request.`);
    return;
  }
  $("run").disabled = $("demo").disabled = true;
  $("status").textContent = "Segmenting ...";
  const start = performance.now();
  try {
    const response = await fetch("/api/segment", { method: "POST", body: data });
    let result;
    try { result = await response.json(); } catch { result = { error: `the server answered ${response.status}` }; }
    if (!response.ok || result.error) throw new Error(result.error || `the server answered ${response.status}`);
    await show(result, performance.now() - start);
  } catch (error) {
    $("status").textContent = "Failed.";
    showError(error.message);
  } finally {
    $("run").disabled = $("demo").disabled = false;
  }
}

form.addEventListener("submit", (event) => { event.preventDefault(); run(false); });
$("demo").addEventListener("click", () => run(true));
loadOptions().catch((error) => showError(`could not load the page's options: ${error.message}`));
