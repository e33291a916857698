// The list page: search as you type, and refresh the list in place (the search box keeps what is typed).
(() => {
  const form = document.querySelector("form.search");
  const input = form && form.querySelector("input[name=q]");
  const every = Number(document.getElementById("sessions")?.dataset.refresh || 10) * 1000;
  if (!input) return;
  let pending = null;
  let latest = 0;  // only the newest answer is shown: a slow refresh never overwrites a newer search

  async function load(query) {
    const mine = ++latest;
    const url = new URL(window.location.href);
    if (query) url.searchParams.set("q", query); else url.searchParams.delete("q");
    const response = await fetch(url, { headers: { Accept: "text/html" } });
    if (!response.ok || mine !== latest) return;
    const text = await response.text();
    if (mine !== latest) return;
    const page = new DOMParser().parseFromString(text, "text/html");
    const fresh = page.getElementById("sessions");
    if (fresh) document.getElementById("sessions").replaceWith(fresh);
    document.title = page.title;
    const clock = page.querySelector("header .clock");
    if (clock) document.querySelector("header .clock").replaceWith(clock);
    if (url.href !== window.location.href) history.replaceState(null, "", url);
  }

  form.addEventListener("submit", (event) => { event.preventDefault(); load(input.value.trim()); });
  input.addEventListener("input", () => {
    clearTimeout(pending);
    pending = setTimeout(() => load(input.value.trim()), 250);
  });
  setInterval(() => { if (!document.hidden) load(input.value.trim()).catch(() => {}); }, every);
})();
