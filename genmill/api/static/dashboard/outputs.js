// A task's outputs shown as what they are: images (with a lightbox), videos, 3D, audio,
// captions, and a download link for every file.

import { $, el, extension, outputName } from "./util.js";

const IMAGE = new Set(["png", "jpg", "jpeg", "webp", "gif", "avif"]);
const VIDEO = new Set(["mp4", "webm", "mov", "m4v"]);
const AUDIO = new Set(["m4a", "mp3", "wav", "ogg", "opus", "flac", "aac"]);
const MESH = new Set(["glb", "gltf"]);
const CAPTIONS = new Set(["vtt", "srt"]);

// model-viewer (with three.js inside, ~1 MB) loads only when a 3D output is first shown.
let viewerLoad = null;
const loadViewer = () => (viewerLoad ??= import("./vendor/model-viewer.min.js"));

export function renderOutputs(container, task) {
  const files = (task.outputs || []).map((url) => ({ url, name: outputName(url) }));
  const byExt = (set) => files.filter((f) => set.has(extension(f.name)));
  const videos = byExt(VIDEO);
  const images = byExt(IMAGE);
  const captions = byExt(CAPTIONS);
  const meshes = byExt(MESH);
  // A video's poster is the image named poster*; a 3D model's, the image named preview*.
  // They are shown as posters, not again as images.
  const poster = videos.length ? images.find((f) => f.name.startsWith("poster")) : undefined;
  const preview = meshes.length ? images.find((f) => f.name.startsWith("preview"))
    : undefined;
  const shownImages = images.filter((f) => f !== poster && f !== preview);
  const parts = [];

  for (const video of videos) {
    const player = el("video", {
      controls: true, preload: "metadata", playsinline: true, src: video.url,
      poster: poster?.url, "aria-label": `Video ${video.name}`,
    });
    for (const track of captions.filter((f) => extension(f.name) === "vtt")) {
      player.append(el("track", { kind: "captions", src: track.url, label: "Captions",
        srclang: "und" }));
    }
    parts.push(el("figure", { class: "output video" }, player,
      el("figcaption", {}, video.name)));
  }
  for (const mesh of meshes) {
    const holder = el("figure", { class: "output mesh" },
      el("figcaption", {}, `${mesh.name} · drag to orbit, scroll or pinch to zoom`));
    loadViewer().then(() => {
      holder.prepend(el("model-viewer", {
        src: mesh.url, poster: preview?.url, alt: `3D model ${mesh.name}`,
        "camera-controls": true, "touch-action": "pan-y", "shadow-intensity": "1",
        exposure: "1", "interaction-prompt": "none",
      }));
    }, () => holder.prepend(el("p", { class: "fail" }, "The 3D viewer could not load.")));
    parts.push(holder);
  }
  if (shownImages.length) {
    parts.push(el("div", { class: "output images" }, shownImages.map((image, index) =>
      el("button", { type: "button", class: "thumb", "aria-label": `Open ${image.name}`,
        onclick: () => openLightbox(shownImages, index) },
      el("img", { src: image.url, alt: image.name, loading: "lazy", decoding: "async" })))));
  }
  for (const audio of byExt(AUDIO)) {
    parts.push(el("figure", { class: "output audio" },
      el("audio", { controls: true, preload: "metadata", src: audio.url,
        "aria-label": `Audio ${audio.name}` }),
      el("figcaption", {}, audio.name)));
  }
  for (const caption of captions) {
    const text = el("pre", { class: "caption-text" }, "…");
    fetch(caption.url).then((r) => (r.ok ? r.text() : Promise.reject()))
      .then((body) => { text.textContent = body.slice(0, 4000); },
        () => { text.textContent = "(could not be read)"; });
    parts.push(el("details", { class: "output captions" },
      el("summary", {}, `Captions · ${caption.name}`), text));
  }
  if (files.length) {
    parts.push(el("ul", { class: "downloads", "aria-label": "Files" }, files.map((f) =>
      el("li", {}, el("a", { href: f.url, download: f.name }, f.name)))));
  }
  container.replaceChildren(...parts);
}

// The lightbox: arrow keys move between the task's images, Escape closes.
let gallery = [];
let current = 0;
let returnFocus = null;

function showImage(index) {
  current = (index + gallery.length) % gallery.length;
  const image = gallery[current];
  $("lightbox-image").src = image.url;
  $("lightbox-image").alt = image.name;
  $("lightbox-caption").textContent = gallery.length > 1
    ? `${image.name} (${current + 1} of ${gallery.length})` : image.name;
  $("lightbox-prev").hidden = $("lightbox-next").hidden = gallery.length < 2;
}

function openLightbox(images, index) {
  gallery = images;
  returnFocus = document.activeElement;
  showImage(index);
  $("lightbox").hidden = false;
  $("lightbox-close").focus();
}

export function closeLightbox() {
  if ($("lightbox").hidden) return false;
  $("lightbox").hidden = true;
  returnFocus?.focus();
  return true;
}

export function setupLightbox() {
  $("lightbox-prev").addEventListener("click", () => showImage(current - 1));
  $("lightbox-next").addEventListener("click", () => showImage(current + 1));
  $("lightbox-close").addEventListener("click", closeLightbox);
  $("lightbox").addEventListener("click", (event) => {
    if (event.target === $("lightbox")) closeLightbox();
  });
  document.addEventListener("keydown", (event) => {
    if ($("lightbox").hidden) return;
    if (event.key === "ArrowLeft") showImage(current - 1);
    else if (event.key === "ArrowRight") showImage(current + 1);
    else if (event.key === "Escape") closeLightbox();
    else return;
    event.preventDefault();
    event.stopPropagation();
  });
}
