/*!
 * natoqa chat widget — answers about the future of NATO, with sources.
 *
 * Embed with one tag (docs/WIDGET.md lists every option):
 *   <script src="https://YOUR-NATOQA/widget.js" data-lang="de" async></script>
 *
 * A custom element <natoqa-chat> with Shadow DOM: the page's CSS cannot reach
 * inside and the widget's CSS cannot leak out. No framework, no build step, no
 * third-party requests. Everything from the server (answers, titles, passages)
 * is inserted as text nodes, never parsed as HTML.
 */
(() => {
  "use strict";

  const TAG = "natoqa-chat";
  if (customElements.get(TAG)) return; // the script was included twice

  // Where this script came from: the service's base URL (API, styles).
  const SCRIPT = document.currentScript;
  const SCRIPT_URL = SCRIPT && SCRIPT.src ? SCRIPT.src : new URL("/widget.js", location.href).href;

  /** How many earlier messages are sent with a follow-up (10 exchanges). */
  const MAX_CONTEXT_MESSAGES = 20;
  const MAX_QUESTION_CHARS = 2000;
  /** Conversations kept in sessionStorage, so they survive navigating the site. */
  const MAX_STORED_TURNS = 40;

  const STRINGS = {
    de: {
      launcher: "Fragen zur NATO",
      title: "Fragen zur Zukunft der NATO",
      close: "Schließen",
      newChat: "Neues Gespräch",
      intro: "Stellen Sie eine Frage. Jede Antwort besteht aus Sätzen der Quellen, mit Belegen.",
      suggestionsLabel: "Zum Beispiel:",
      suggestions: [
        "Wer ist der neue NATO-Generalsekretär?",
        "Welche Rolle spielt China für die NATO?",
        "Wie hoch sollen die Verteidigungsausgaben sein?",
      ],
      inputLabel: "Ihre Frage",
      placeholder: "Frage stellen …",
      send: "Senden",
      you: "Ihre Frage",
      answer: "Antwort",
      thinking: "Suche in den Quellen …",
      sources: "Quellen",
      furtherReading: "Weiterlesen",
      citeRef: "Quelle {n}",
      page: "S. {page}",
      weak: "schwacher Treffer",
      expand: "Ganze Passage mit Umgebung",
      collapse: "Umgebung ausblenden",
      loading: "Lädt …",
      passageError: "Die Passage konnte nicht geladen werden.",
      footnotes: "Fußnoten",
      openSource: "Zur Quelle",
      copy: "Antwort kopieren",
      copied: "Antwort kopiert.",
      nothing: "Dazu finde ich in den Quellen nichts.",
      nothingHint: "Versuchen Sie andere Worte oder eine andere Frage.",
      unreachable: "Der Dienst ist gerade nicht erreichbar.",
      rateLimited: "Zu viele Anfragen. Bitte in {seconds} s erneut versuchen.",
      interrupted: "Die Verbindung wurde unterbrochen.",
      failed: "Die Frage konnte nicht beantwortet werden: {detail}",
      retry: "Erneut versuchen",
      footer: "Antworten sind zitierte Sätze aus den Quellen.",
    },
    en: {
      launcher: "Ask about NATO",
      title: "Questions on the future of NATO",
      close: "Close",
      newChat: "New conversation",
      intro: "Ask a question. Every answer is made of sentences from the sources, with citations.",
      suggestionsLabel: "For example:",
      suggestions: [
        "Who is NATO's new Secretary General?",
        "What is NATO's defence spending target?",
        "How does NATO see China?",
      ],
      inputLabel: "Your question",
      placeholder: "Ask a question …",
      send: "Send",
      you: "Your question",
      answer: "Answer",
      thinking: "Searching the sources …",
      sources: "Sources",
      furtherReading: "Further reading",
      citeRef: "Source {n}",
      page: "p. {page}",
      weak: "weak match",
      expand: "Full passage with context",
      collapse: "Hide context",
      loading: "Loading …",
      passageError: "The passage could not be loaded.",
      footnotes: "Footnotes",
      openSource: "Open source",
      copy: "Copy answer",
      copied: "Answer copied.",
      nothing: "I found nothing about this in the sources.",
      nothingHint: "Try other words or another question.",
      unreachable: "The service cannot be reached right now.",
      rateLimited: "Too many requests. Please try again in {seconds} s.",
      interrupted: "The connection was interrupted.",
      failed: "The question could not be answered: {detail}",
      retry: "Try again",
      footer: "Answers are sentences quoted from the sources.",
    },
  };

  // --- small helpers --------------------------------------------------------

  /** Create an element: h("p", {class: "x", onclick: f}, "text", child…). Text stays text. */
  function h(tag, props, ...children) {
    const el = document.createElement(tag);
    for (const [key, value] of Object.entries(props || {})) {
      if (value === null || value === undefined || value === false) continue;
      if (key.startsWith("on")) el.addEventListener(key.slice(2), value);
      else if (key === "hidden") el.hidden = true;
      else el.setAttribute(key, value === true ? "" : String(value));
    }
    for (const child of children.flat()) {
      if (child === null || child === undefined || child === false) continue;
      el.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
    return el;
  }

  /** "{n} items" with {n} filled in. */
  const fmt = (template, vars) =>
    String(template).replace(/\{(\w+)\}/g, (m, key) => (key in vars ? String(vars[key]) : m));

  /** A link target only if it is http(s): never javascript: or data: from a source's metadata. */
  function safeUrl(value) {
    try {
      const url = new URL(value);
      return url.protocol === "https:" || url.protocol === "http:" ? url.href : null;
    } catch {
      return null;
    }
  }

  /**
   * Server-Sent Events from a fetch body: yields {event, data} with data
   * parsed as JSON. EventSource cannot POST, hence this small parser
   * (https://html.spec.whatwg.org/multipage/server-sent-events.html).
   */
  async function* readEvents(body) {
    const reader = body.pipeThrough(new TextDecoderStream()).getReader();
    let buffer = "";
    let event = "message";
    let data = [];
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return;
      const text = buffer + value;
      // A CR at the end may be half of a CRLF split across chunks: decide with the next one.
      const held = text.endsWith("\r") ? 1 : 0;
      const lines = text.slice(0, text.length - held).split(/\r\n|\r|\n/);
      buffer = lines.pop() + text.slice(text.length - held); // an incomplete line waits
      for (const line of lines) {
        if (line === "") {
          if (data.length) yield { event, data: JSON.parse(data.join("\n")) };
          event = "message";
          data = [];
          continue;
        }
        if (line.startsWith(":")) continue; // a comment: the server's keep-alive ping
        const colon = line.indexOf(":");
        const field = colon < 0 ? line : line.slice(0, colon);
        const val = colon < 0 ? "" : line.slice(colon + 1).replace(/^ /, "");
        if (field === "event") event = val;
        else if (field === "data") data.push(val);
      }
    }
  }

  class RequestFailed extends Error {
    constructor(kind, detail, retryAfter) {
      super(detail || kind);
      this.kind = kind; // "unreachable" | "rateLimited" | "interrupted" | "failed"
      this.detail = detail;
      this.retryAfter = retryAfter;
    }
  }

  /** Turn a non-2xx response (problem+json per RFC 9457) into a RequestFailed. */
  async function failure(response) {
    if (response.status === 429) {
      const seconds = parseInt(response.headers.get("Retry-After") || "", 10);
      return new RequestFailed("rateLimited", "", Number.isFinite(seconds) ? seconds : 5);
    }
    let detail = `HTTP ${response.status}`;
    try {
      const problem = await response.json();
      detail = problem.detail || problem.title || detail;
    } catch {
      // not JSON: keep the status line
    }
    return new RequestFailed(response.status >= 500 ? "unreachable" : "failed", detail);
  }

  // --- the element ----------------------------------------------------------

  class NatoqaChat extends HTMLElement {
    constructor() {
      super();
      this.attachShadow({ mode: "open" });
      this.turns = []; // {role: "user", text} | {role: "assistant", text, citations, noAnswer}
      this.isOpen = false;
      this.busy = false;
      this.controller = null;
      this.built = false;
    }

    /** The parser, exposed for tests and for pages that talk to the API themselves. */
    static readEvents(body) {
      return readEvents(body);
    }

    connectedCallback() {
      if (this.built) return;
      this.built = true;
      const base = new URL(".", SCRIPT_URL);
      this.api = new URL(this.dataset.api || base.href, location.href).href.replace(/\/?$/, "/");
      this.language = this.dataset.lang || pageLanguage();
      this.t = strings(this.language, this.dataset.strings);
      if (this.dataset.accent) this.style.setProperty("--natoqa-accent", this.dataset.accent);
      this.storageKey = `natoqa-chat:${this.api}`;
      this.build(new URL("widget.css", base).href);
      this.restore();
    }

    disconnectedCallback() {
      if (this.controller) this.controller.abort();
    }

    // --- structure ----------------------------------------------------------

    build(cssUrl) {
      const t = this.t;
      const root = h("div", { class: "root", lang: this.language });
      // Hidden until the stylesheet is in, so no unstyled flash (CSSOM, allowed by strict CSPs).
      root.style.visibility = "hidden";
      const css = h("link", { rel: "stylesheet", href: cssUrl });
      const reveal = () => root.style.removeProperty("visibility");
      css.addEventListener("load", reveal);
      css.addEventListener("error", reveal);

      this.launcher = h(
        "button",
        { class: "launcher", type: "button", "aria-expanded": "false", "aria-controls": "panel",
          onclick: () => this.open() },
        h("span", { class: "launcher-icon", "aria-hidden": "true" }, "?"),
        h("span", { class: "launcher-label" }, t.launcher),
      );

      this.log = h("div", { class: "log", role: "log", "aria-live": "polite", "aria-label": t.title });
      this.intro = h(
        "div",
        { class: "intro" },
        h("p", {}, t.intro),
        h("p", { class: "suggestions-label", id: "suggestions-label" }, t.suggestionsLabel),
        h(
          "ul",
          { class: "suggestions", "aria-labelledby": "suggestions-label" },
          (Array.isArray(t.suggestions) ? t.suggestions : []).map((q) =>
            h("li", {}, h("button", { type: "button", class: "suggestion", onclick: () => this.ask(q) }, q)),
          ),
        ),
      );
      this.status = h("div", { class: "status", role: "status" });
      this.input = h("textarea", {
        id: "question", rows: "2", maxlength: String(MAX_QUESTION_CHARS), placeholder: t.placeholder,
        autocomplete: "off",
      });
      this.input.addEventListener("keydown", (e) => {
        if (e.key === "Enter" && !e.shiftKey && !e.isComposing) {
          e.preventDefault();
          this.submit();
        }
      });
      this.sendButton = h("button", { type: "submit", class: "send" }, t.send);
      const form = h(
        "form",
        { class: "ask", onsubmit: (e) => { e.preventDefault(); this.submit(); } },
        h("label", { for: "question", class: "visually-hidden" }, t.inputLabel),
        this.input,
        this.sendButton,
      );

      this.panel = h(
        "section",
        { class: "panel", id: "panel", role: "dialog", "aria-labelledby": "title", hidden: true },
        h(
          "header",
          {},
          h("h2", { id: "title" }, this.dataset.title || t.title),
          h("button", { type: "button", class: "new", onclick: () => this.reset() }, t.newChat),
          h(
            "button",
            { type: "button", class: "close", "aria-label": t.close, title: t.close, onclick: () => this.close() },
            h("span", { "aria-hidden": "true" }, "×"),
          ),
        ),
        h("div", { class: "body" }, this.intro, this.log),
        this.status,
        form,
        h("p", { class: "footer" }, t.footer),
      );
      this.panel.addEventListener("keydown", (e) => {
        if (e.key === "Escape") {
          e.preventDefault();
          this.close();
        }
      });

      root.append(this.launcher, this.panel);
      this.root = root;
      this.shadowRoot.append(css, root);
    }

    // --- opening and closing --------------------------------------------------

    open() {
      this.isOpen = true;
      this.panel.hidden = false;
      this.root.classList.add("open");
      this.launcher.setAttribute("aria-expanded", "true");
      this.input.focus();
      this.scrollToEnd();
      this.save();
    }

    close() {
      this.isOpen = false;
      this.panel.hidden = true;
      this.root.classList.remove("open");
      this.launcher.setAttribute("aria-expanded", "false");
      this.launcher.focus();
      this.save();
    }

    /** Forget the conversation (and stop an answer in progress). */
    reset() {
      if (this.controller) this.controller.abort();
      this.turns = [];
      this.log.replaceChildren();
      this.setStatus("");
      this.intro.hidden = false;
      this.save();
      this.input.focus();
    }

    // --- asking -------------------------------------------------------------

    submit() {
      const question = this.input.value.trim();
      if (!question || this.busy) return;
      this.input.value = "";
      this.ask(question);
    }

    ask(question) {
      if (this.busy) return;
      if (!this.isOpen) this.open();
      this.input.focus(); // a clicked suggestion disappears; the next question is typed here
      this.turns.push({ role: "user", text: question });
      this.log.append(this.renderQuestion(question));
      this.save();
      this.send();
    }

    /** Ask the server for an answer to the last question, streamed into a new message. */
    async send() {
      this.busy = true;
      this.sendButton.disabled = true;
      this.intro.hidden = true;
      this.setStatus(this.t.thinking);
      const view = this.renderAnswerShell();
      this.log.append(view.el);
      this.scrollToEnd();
      const controller = new AbortController();
      this.controller = controller;
      const turn = { role: "assistant", text: "", citations: [], noAnswer: false };
      try {
        const response = await this.post(controller.signal);
        let finished = false;
        for await (const { event, data } of readEvents(response.body)) {
          if (event === "citations") {
            turn.citations = data.citations || [];
            turn.noAnswer = Boolean(data.no_answer);
            this.showCitations(view, turn);
          } else if (event === "delta") {
            turn.text += data.text;
            if (!turn.noAnswer) this.fillAnswer(view.text, turn.text, turn.citations);
          } else if (event === "done") {
            turn.text = data.answer;
            turn.noAnswer = Boolean(data.no_answer);
            finished = true;
          } else if (event === "error") {
            throw new RequestFailed("failed", data.detail || data.title);
          }
        }
        if (!finished) throw new RequestFailed("interrupted");
        this.finishAnswer(view, turn);
        this.turns.push(turn);
        this.save();
        this.setStatus("");
      } catch (err) {
        view.el.remove();
        if (controller.signal.aborted) return;
        // Anything else (the connection dropped mid-stream, a garbled event) is an interruption.
        this.showError(err instanceof RequestFailed ? err : new RequestFailed("interrupted"));
      } finally {
        if (this.controller === controller) this.controller = null;
        this.busy = false;
        this.sendButton.disabled = false;
      }
    }

    async post(signal) {
      const history = this.turns.slice(0, -1).slice(-MAX_CONTEXT_MESSAGES);
      while (history.length && history[0].role !== "user") history.shift();
      const messages = [...history, this.turns[this.turns.length - 1]]
        .filter((m) => m.text)
        .map((m) => ({ role: m.role, content: m.text }));
      let response;
      try {
        response = await fetch(new URL("api/v1/chat", this.api), {
          method: "POST",
          headers: this.headers({ "Content-Type": "application/json", Accept: "text/event-stream" }),
          body: JSON.stringify({ messages, stream: true }),
          signal,
        });
      } catch (err) {
        if (signal.aborted) throw err;
        throw new RequestFailed("unreachable"); // network down, server down, or not allowed by CORS
      }
      if (!response.ok) throw await failure(response);
      return response;
    }

    /** Request headers; a page may give an API key (visible to readers: for attribution, not secrecy). */
    headers(extra) {
      return this.dataset.apiKey ? { ...extra, "X-API-Key": this.dataset.apiKey } : extra;
    }

    showError(err) {
      const t = this.t;
      const message = {
        unreachable: t.unreachable,
        rateLimited: fmt(t.rateLimited, { seconds: err.retryAfter }),
        interrupted: t.interrupted,
        failed: fmt(t.failed, { detail: err.detail || "" }),
      }[err.kind];
      const retry = h("button", { type: "button", class: "retry", onclick: () => this.retry() }, t.retry);
      this.status.replaceChildren(
        h("div", { class: `error ${err.kind}`, role: "alert" }, h("span", {}, message), " ", retry),
      );
      retry.focus();
    }

    retry() {
      if (this.busy || !this.turns.length || this.turns[this.turns.length - 1].role !== "user") return;
      this.setStatus("");
      this.input.focus();
      this.send();
    }

    setStatus(text) {
      this.status.replaceChildren(text ? h("p", {}, text) : "");
    }

    // --- rendering ----------------------------------------------------------

    renderQuestion(text) {
      return h("div", { class: "msg user" }, h("span", { class: "visually-hidden" }, `${this.t.you}: `), h("p", {}, text));
    }

    renderAnswerShell() {
      const text = h("p", { class: "text" });
      const el = h(
        "article",
        { class: "msg bot", "aria-busy": "true", "aria-label": this.t.answer },
        text,
      );
      return { el, text, sources: null };
    }

    /** The answer text, with each [n] turned into a button that opens citation n. */
    fillAnswer(p, text, citations) {
      const known = new Set(citations.map((c) => c.n));
      const parts = [];
      let last = 0;
      for (const m of text.matchAll(/\[(\d+)\]/g)) {
        const n = Number(m[1]);
        if (!known.has(n)) continue;
        parts.push(text.slice(last, m.index));
        parts.push(
          h(
            "button",
            { type: "button", class: "ref", "aria-label": fmt(this.t.citeRef, { n }),
              onclick: () => this.openCitation(p.closest(".msg"), n) },
            String(n),
          ),
        );
        last = m.index + m[0].length;
      }
      parts.push(text.slice(last));
      p.replaceChildren(...parts);
    }

    showCitations(view, turn) {
      if (turn.noAnswer || view.sources) return;
      const used = turn.citations.filter((c) => c.used !== false);
      const more = turn.citations.filter((c) => c.used === false);
      const t = this.t;
      view.sources = h(
        "div",
        { class: "sources" },
        used.length ? [h("h3", {}, t.sources), h("ol", { class: "cards" }, used.map((c) => this.renderCard(c)))] : null,
        more.length ? [h("h3", {}, t.furtherReading), h("ol", { class: "cards more" }, more.map((c) => this.renderCard(c)))] : null,
      );
      view.el.append(view.sources);
    }

    finishAnswer(view, turn) {
      const t = this.t;
      view.el.removeAttribute("aria-busy");
      if (turn.noAnswer) {
        view.el.classList.add("nothing");
        view.text.replaceChildren(t.nothing);
        view.text.after(h("p", { class: "hint" }, t.nothingHint));
        return;
      }
      this.fillAnswer(view.text, turn.text, turn.citations);
      this.showCitations(view, turn);
      const copy = h("button", { type: "button", class: "copy", onclick: () => this.copy(turn) }, t.copy);
      view.el.append(h("div", { class: "actions" }, copy));
    }

    renderTurn(turn) {
      if (turn.role === "user") return this.renderQuestion(turn.text);
      const view = this.renderAnswerShell();
      this.showCitations(view, turn);
      this.finishAnswer(view, turn);
      return view.el;
    }

    renderCard(c) {
      const t = this.t;
      const where = [
        c.section && c.section !== c.title ? c.section : null,
        c.page ? fmt(t.page, { page: c.page }) : null,
        c.date,
      ].filter(Boolean);
      const passage = h("div", { class: "passage", hidden: true });
      const expand = h("button", { type: "button", class: "expand", "aria-expanded": "false" }, t.expand);
      expand.addEventListener("click", () => this.toggleContext(c, expand, passage));
      const url = safeUrl(c.url);
      const byline = [c.authors && c.authors.join(", "), c.publisher].filter(Boolean).join(" · ");
      return h(
        "li",
        { class: `card${c.low_confidence ? " weak" : ""}`, "data-n": c.n },
        h(
          "details",
          {},
          h(
            "summary",
            {},
            h("span", { class: "num", "aria-hidden": "true" }, String(c.n)),
            h("span", { class: "visually-hidden" }, `${fmt(t.citeRef, { n: c.n })}: `),
            h("span", { class: "card-title" }, c.title),
            where.length ? h("span", { class: "where" }, where.join(" · ")) : null,
            c.low_confidence ? h("span", { class: "badge" }, t.weak) : null,
          ),
          h("blockquote", { class: "quote" }, c.quote || c.text),
          byline ? h("p", { class: "byline" }, byline) : null,
          passage,
          h(
            "div",
            { class: "card-actions" },
            expand,
            url ? h("a", { href: url, target: "_blank", rel: "noopener noreferrer" }, t.openSource) : null,
          ),
        ),
      );
    }

    /** Open citation n of a message, scroll to it and focus it. */
    openCitation(msg, n) {
      const card = msg && msg.querySelector(`.card[data-n="${Number(n)}"]`);
      if (!card) return;
      const details = card.querySelector("details");
      details.open = true;
      const summary = card.querySelector("summary");
      summary.scrollIntoView({ block: "nearest" });
      summary.focus();
    }

    /** Show or hide the whole passage with its neighbours (loaded once, on first use). */
    async toggleContext(c, button, box) {
      const t = this.t;
      if (button.getAttribute("aria-expanded") === "true") {
        box.hidden = true;
        button.setAttribute("aria-expanded", "false");
        button.textContent = t.expand;
        return;
      }
      box.hidden = false;
      button.setAttribute("aria-expanded", "true");
      button.textContent = t.collapse;
      if (box.dataset.loaded) return;
      box.setAttribute("aria-busy", "true");
      box.replaceChildren(h("p", { class: "loading" }, t.loading));
      try {
        const url = new URL(`api/v1/passages/${encodeURIComponent(c.passage_id)}?window=1`, this.api);
        const response = await fetch(url, { headers: this.headers({ Accept: "application/json" }) });
        if (!response.ok) throw await failure(response);
        const ctx = await response.json();
        box.replaceChildren(
          ...ctx.before.map((p) => h("p", { class: "context" }, p.text)),
          h("p", { class: "main" }, highlight(ctx.passage.text, c)),
          ...ctx.after.map((p) => h("p", { class: "context" }, p.text)),
          ctx.footnotes.length
            ? h("div", { class: "footnotes" }, h("h4", {}, t.footnotes),
                ctx.footnotes.map((f) => h("p", {}, f.text)))
            : null,
        );
        box.dataset.loaded = "1";
      } catch {
        box.replaceChildren(h("p", { class: "error", role: "alert" }, t.passageError));
      } finally {
        box.removeAttribute("aria-busy");
      }
    }

    async copy(turn) {
      const lines = turn.citations
        .filter((c) => c.used !== false)
        .map((c) => `[${c.n}] ${[c.title, c.section !== c.title && c.section, c.page && fmt(this.t.page, { page: c.page }), c.date].filter(Boolean).join(", ")}`);
      const text = [turn.text, "", ...lines].join("\n").trim();
      try {
        await navigator.clipboard.writeText(text);
      } catch {
        // No clipboard API (plain http, or permission refused): the classic way.
        const area = h("textarea", { class: "visually-hidden" });
        area.value = text;
        this.shadowRoot.append(area);
        area.select();
        document.execCommand("copy");
        area.remove();
      }
      this.setStatus(this.t.copied);
    }

    scrollToEnd() {
      const body = this.log.parentElement;
      body.scrollTop = body.scrollHeight;
    }

    // --- keeping the conversation across pages -----------------------------------

    save() {
      try {
        sessionStorage.setItem(
          this.storageKey,
          JSON.stringify({ open: this.isOpen, turns: this.turns.slice(-MAX_STORED_TURNS) }),
        );
      } catch {
        // storage full or disabled: the conversation just does not survive navigation
      }
    }

    restore() {
      let saved = null;
      try {
        saved = JSON.parse(sessionStorage.getItem(this.storageKey) || "null");
      } catch {
        saved = null;
      }
      const turns = saved && Array.isArray(saved.turns) ? saved.turns : [];
      this.turns = turns.filter((x) => x && (x.role === "user" || x.role === "assistant") && typeof x.text === "string");
      for (const turn of this.turns) this.log.append(this.renderTurn(turn));
      this.intro.hidden = this.turns.length > 0;
      const last = this.turns[this.turns.length - 1];
      if (last && last.role === "user") {
        // The page was left while this question was being answered.
        this.showError(new RequestFailed("interrupted"));
      }
      if ((saved && saved.open) || this.dataset.open === "true") {
        this.isOpen = true;
        this.panel.hidden = false;
        this.root.classList.add("open");
        this.launcher.setAttribute("aria-expanded", "true");
        requestAnimationFrame(() => this.scrollToEnd());
      }
    }
  }

  /** The passage text with the cited sentence(s) marked. */
  function highlight(text, c) {
    let from = c.quote_start - c.start;
    let to = c.quote_end - c.start;
    if (!(from >= 0 && to <= text.length && text.slice(from, to) === c.quote)) {
      from = c.quote ? text.indexOf(c.quote) : -1;
      to = from + (c.quote || "").length;
    }
    if (from < 0) return text;
    return [text.slice(0, from), h("mark", {}, text.slice(from, to)), text.slice(to)];
  }

  function pageLanguage() {
    const lang = (document.documentElement.lang || navigator.language || "de").toLowerCase();
    return lang.startsWith("de") ? "de" : "en";
  }

  /** The strings for a language, with the page's overrides (data-strings, JSON) on top. */
  function strings(lang, overrides) {
    const base = STRINGS[lang.slice(0, 2)] || STRINGS.en;
    let extra = {};
    if (overrides) {
      try {
        extra = JSON.parse(overrides);
      } catch {
        console.warn("natoqa widget: data-strings is not valid JSON; ignored");
      }
    }
    return { ...base, ...extra };
  }

  customElements.define(TAG, NatoqaChat);

  // One script tag is all a page needs: add the element, carrying the tag's data-* over.
  function mount() {
    if (document.querySelector(TAG)) return; // the page placed one itself
    const el = document.createElement(TAG);
    if (SCRIPT) Object.assign(el.dataset, SCRIPT.dataset);
    document.body.append(el);
  }
  if (document.body) mount();
  else document.addEventListener("DOMContentLoaded", mount);
})();
