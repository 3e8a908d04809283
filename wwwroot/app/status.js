// The connection indicator: connected, syncing, reconnecting, or offline with the number of edits waiting
// (client.pending), plus a banner on the board while the connection is away so people know their edits are kept.

export class Status {
  constructor({ el, text, banner, bannerTitle, bannerDetail }) {
    this.el = el;
    this.text = text;
    this.banner = banner;
    this.bannerTitle = bannerTitle;
    this.bannerDetail = bannerDetail;
    this.state = "connecting";   // before the first connection; then the client's state
    this.pending = 0;
    this.everConnected = false;
    window.addEventListener("online", () => this.render());
    window.addEventListener("offline", () => this.render());
    this.render();
  }

  update({ state, pending }) {
    if (state !== undefined) {
      this.state = state;
      if (state === "connected") {
        this.everConnected = true;
      }
    }
    if (pending !== undefined) {
      this.pending = pending;
    }
    this.render();
  }

  render() {
    const offline = navigator.onLine === false;
    const waiting = this.pending === 1 ? "1 edit waiting" : `${this.pending} edits waiting`;
    let kind;
    let label;
    switch (this.state) {
      case "connected":
        kind = "connected";
        label = this.pending > 0 ? `Syncing ${this.pending === 1 ? "1 edit" : `${this.pending} edits`}…` : "Connected";
        break;
      case "reconnecting":
        kind = offline ? "offline" : "reconnecting";
        label = offline ? "Offline" : this.everConnected ? "Reconnecting…" : "Connecting…";
        break;
      case "disconnected":
        kind = "disconnected";
        label = "Disconnected";
        break;
      default:
        kind = offline ? "offline" : "connecting";
        label = offline ? "Offline" : "Connecting…";
    }
    if (kind !== "connected" && this.pending > 0) {
      label += ` · ${waiting}`;
    }
    this.el.dataset.connection = kind;
    this.el.dataset.pending = String(this.pending);
    this.text.textContent = label;

    const away = this.everConnected && kind !== "connected";
    this.banner.hidden = !away;
    if (away) {
      this.bannerTitle.textContent = kind === "offline" ? "You are offline." : kind === "disconnected" ? "Disconnected." : "Connection lost, reconnecting…";
      this.bannerDetail.textContent = this.pending > 0
        ? `Keep editing: ${waiting.replace(" waiting", "")} will sync when the connection returns.`
        : "Keep editing: your changes are kept and sync when the connection returns.";
    }
    document.body.dataset.connection = kind;
  }
}
