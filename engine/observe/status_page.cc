// The status page's HTML, built on the server: it shows the store as it was when asked, works
// without the script, and the script only refreshes the queue table (/api/queues), setting
// text, never markup.
#include "status_page.h"

#include <cctype>
#include <cstdint>
#include <ctime>

namespace jobstore::observe {
namespace {

constexpr const char* kStateNames[] = {"ready", "claimed", "delayed", "abandoned"};

std::string Head(const PageFrame& f, std::string_view title) {
  std::string h =
      "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
      "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
      "<title>" + HtmlEscape(title) + " · jobstore</title>"
      "<link rel=\"stylesheet\" href=\"/static/app.css\">"
      "<script src=\"/static/app.js\" defer></script></head><body>"
      "<header><a class=\"brand\" href=\"/\">jobstore</a><span class=\"store\">" +
      HtmlEscape(f.store) + "</span><span class=\"spacer\"></span>";
  if (f.read_only) h += "<span class=\"badge warn\" id=\"mode\">store is read-only</span>";
  if (!f.writable) {
    if (!f.read_only) {
      h += "<span class=\"badge\" id=\"mode\" title=\"start the server with a token file to "
           "enable writes\">read-only page</span>";
    }
  } else if (f.signed_in) {
    if (!f.read_only) h += "<span class=\"badge ok\" id=\"mode\">writes enabled</span>";
    h += "<form method=\"post\" action=\"/logout\" class=\"inline\">"
         "<input type=\"hidden\" name=\"csrf\" value=\"" + HtmlEscape(f.csrf) + "\">"
         "<button>Sign out</button></form>";
  } else {
    h += "<form method=\"post\" action=\"/login\" class=\"inline\" id=\"login\">"
         "<input type=\"password\" name=\"token\" placeholder=\"token\" autocomplete=\"off\" "
         "aria-label=\"token\"><button>Sign in to change jobs</button></form>";
  }
  h += "</header><main>";
  if (!f.note.empty()) h += "<p class=\"note\" id=\"note\">" + HtmlEscape(f.note) + "</p>";
  return h;
}

std::string Foot(const PageFrame& f) {
  return "</main><footer>As of <time id=\"asof\" data-ms=\"" + std::to_string(f.now_ms) +
         "\">" + FormatTime(f.now_ms) + "</time></footer></body></html>\n";
}

bool CanWrite(const PageFrame& f) { return f.writable && f.signed_in && !f.read_only; }

// A POST button carrying the session's CSRF token and the job's queue.
std::string Button(const PageFrame& f, const char* action, const QueueRef& q,
                   std::string_view id, const char* label, const char* css,
                   const char* confirm) {
  std::string b = "<form method=\"post\" action=\"" + std::string(action) +
                  "\" class=\"inline\"";
  if (confirm) b += " data-confirm=\"" + HtmlEscape(confirm) + "\"";
  b += "><input type=\"hidden\" name=\"csrf\" value=\"" + HtmlEscape(f.csrf) +
       "\"><input type=\"hidden\" name=\"domain\" value=\"" + HtmlEscape(q.domain) +
       "\"><input type=\"hidden\" name=\"type\" value=\"" + HtmlEscape(q.type) + "\">";
  if (!id.empty()) b += "<input type=\"hidden\" name=\"id\" value=\"" + HtmlEscape(id) + "\">";
  return b + "<button class=\"" + css + "\">" + label + "</button></form>";
}

std::string Cut(std::string_view text, size_t max) {
  if (text.size() <= max) return std::string(text);
  return std::string(text.substr(0, max)) + "…";
}

std::string CountCell(const char* state, uint64_t n) {
  return std::string("<td class=\"n ") + state + (n ? "" : " zero") + "\" data-state=\"" + state +
         "\">" + std::to_string(n) + "</td>";
}

}  // namespace

std::string HtmlEscape(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      case '\'': out += "&#39;"; break;
      default: out += c;
    }
  }
  return out;
}

std::string UrlEncode(std::string_view text) {
  std::string out;
  for (unsigned char c : text) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += "0123456789ABCDEF"[c >> 4];
      out += "0123456789ABCDEF"[c & 15];
    }
  }
  return out;
}

std::string FormatAge(int64_t ms) {
  int64_t s = ms < 0 ? 0 : ms / 1000;
  auto two = [](int64_t a, const char* ua, int64_t b, const char* ub) {
    return std::to_string(a) + ua + (b ? " " + std::to_string(b) + ub : "");
  };
  if (s < 60) return std::to_string(s) + "s";
  if (s < 3600) return two(s / 60, "m", s % 60, "s");
  if (s < 86400) return two(s / 3600, "h", s % 3600 / 60, "m");
  return two(s / 86400, "d", s % 86400 / 3600, "h");
}

std::string FormatTime(int64_t ms) {
  if (ms <= 0) return "—";
  std::time_t t = static_cast<std::time_t>(ms / 1000);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof(buf), "%Y-%m-%d %H:%M:%S UTC", &tm);
  return buf;
}

std::string QueueLink(const QueueRef& q, const char* state) {
  return "/queue?domain=" + UrlEncode(q.domain) + "&type=" + UrlEncode(q.type) +
         (state ? std::string("&state=") + state : "");
}

std::string JobLink(const QueueRef& q, JobId id) {
  return "/job?domain=" + UrlEncode(q.domain) + "&type=" + UrlEncode(q.type) +
         "&id=" + std::to_string(id);
}

std::string QueuesPage(const PageFrame& f, const std::vector<QueueRow>& queues) {
  bool routed = false;
  for (const QueueRow& q : queues) routed = routed || !q.stats.backend.empty();
  std::string h = Head(f, "queues");
  h += "<h1>Queues</h1><table id=\"queues\" data-routed=\"" + std::string(routed ? "1" : "0") +
       "\"><thead><tr><th>Domain</th><th>Type</th>";
  if (routed) h += "<th>Backend</th>";
  h += "<th class=\"n\">Ready</th><th class=\"n\">Claimed</th><th class=\"n\">Delayed</th>"
       "<th class=\"n\">Abandoned</th><th class=\"n\">Oldest ready</th></tr></thead><tbody>";
  QueueCounts total;
  for (const QueueRow& row : queues) {
    const QueueStats& q = row.stats;
    total.ready += q.counts.ready;
    total.claimed += q.counts.claimed;
    total.delayed += q.counts.delayed;
    total.abandoned += q.counts.abandoned;
    h += "<tr id=\"" + HtmlEscape("queue:" + q.queue.domain + "/" + q.queue.type) + "\">"
         "<td class=\"domain\">" + HtmlEscape(q.queue.domain) + "</td>"
         "<td class=\"type\"><a href=\"" + HtmlEscape(QueueLink(q.queue)) + "\">" +
         HtmlEscape(q.queue.type) + "</a></td>";
    if (routed) h += "<td class=\"backend\">" + HtmlEscape(q.backend) + "</td>";
    h += CountCell("ready", q.counts.ready) + CountCell("claimed", q.counts.claimed) +
         CountCell("delayed", q.counts.delayed) + CountCell("abandoned", q.counts.abandoned) +
         "<td class=\"n age\" data-ms=\"" + std::to_string(row.oldest_ready_ms) + "\">" +
         (q.counts.ready ? FormatAge(row.oldest_ready_ms) : "—") + "</td></tr>";
  }
  if (queues.empty()) {
    h += "<tr class=\"empty\"><td colspan=\"" + std::to_string(routed ? 8 : 7) +
         "\">No queue has held a job yet.</td></tr>";
  }
  h += "</tbody><tfoot><tr><td colspan=\"" + std::to_string(routed ? 3 : 2) +
       "\">" + std::to_string(queues.size()) + (queues.size() == 1 ? " queue" : " queues") +
       "</td>" + CountCell("ready", total.ready) + CountCell("claimed", total.claimed) +
       CountCell("delayed", total.delayed) + CountCell("abandoned", total.abandoned) +
       "<td></td></tr></tfoot></table>"
       "<p class=\"hint\"><a href=\"/metrics\">/metrics</a> for Prometheus. "
       "<span id=\"live\">Updates every 2 seconds.</span></p>";
  return h + Foot(f);
}

std::string QueuePage(const PageFrame& f, const QueueRow& row, JobState state,
                      const std::vector<JobInfo>& jobs, const std::string& next) {
  const QueueRef& q = row.stats.queue;
  const QueueCounts& c = row.stats.counts;
  std::string title = q.type + (q.domain.empty() ? "" : " (" + q.domain + ")");
  std::string h = Head(f, title);
  h += "<nav class=\"crumbs\"><a href=\"/\">Queues</a> › " + HtmlEscape(title) + "</nav>"
       "<h1>" + HtmlEscape(q.type) + (q.domain.empty() ? "" : " <small>domain " +
       HtmlEscape(q.domain) + "</small>") + "</h1>";
  h += "<p class=\"summary\">Oldest ready: <b>" +
       (c.ready ? FormatAge(row.oldest_ready_ms) : std::string("—")) + "</b></p>";
  h += "<nav class=\"tabs\" id=\"states\">";
  const uint64_t n[] = {c.ready, c.claimed, c.delayed, c.abandoned};
  for (int s = 0; s < 4; ++s) {
    const bool on = static_cast<int>(state) == s;
    h += "<a class=\"tab" + std::string(on ? " on" : "") + "\" data-state=\"" + kStateNames[s] +
         "\" href=\"" + HtmlEscape(QueueLink(q, kStateNames[s])) + "\">" + kStateNames[s] +
         " <b>" + std::to_string(n[s]) + "</b></a>";
  }
  h += "</nav>";
  if (state == JobState::kAbandoned && c.abandoned > 0 && CanWrite(f)) {
    h += "<p>" + Button(f, "/queue/repush", q, "",
                        ("Repush all " + std::to_string(c.abandoned) + " abandoned").c_str(),
                        "primary", "Make every abandoned job of this queue ready again?") +
         "</p>";
  }
  const bool abandoned = state == JobState::kAbandoned;
  h += "<table id=\"jobs\"><thead><tr><th class=\"n\">Id</th><th class=\"n\">Attempts</th>"
       "<th>Enqueued</th><th>" + std::string(abandoned ? "Abandoned" : state == JobState::kClaimed
                                                               ? "Lease ends"
                                                           : state == JobState::kDelayed
                                                               ? "Ready at"
                                                               : "Priority") +
       "</th><th>" + (abandoned ? "Error" : "Params") + "</th>" + (CanWrite(f) ? "<th></th>" : "") +
       "</tr></thead><tbody>";
  for (const JobInfo& j : jobs) {
    h += "<tr id=\"job-" + std::to_string(j.id) + "\"><td class=\"n\"><a href=\"" +
         HtmlEscape(JobLink(q, j.id)) + "\">" + std::to_string(j.id) + "</a></td><td class=\"n\">" +
         std::to_string(j.attempts) + "</td><td>" + FormatTime(j.enqueued_at_ms) + "</td><td>";
    switch (state) {
      case JobState::kAbandoned: h += FormatTime(j.abandoned_at_ms); break;
      case JobState::kClaimed:
        h += j.deadline_ms == INT64_MAX ? "never" : FormatTime(j.deadline_ms);
        break;
      case JobState::kDelayed: h += FormatTime(j.release_at_ms); break;
      case JobState::kReady: h += std::to_string(j.priority); break;
    }
    h += "</td><td class=\"" + std::string(abandoned ? "error" : "params") + "\"><code>" +
         HtmlEscape(Cut(abandoned ? j.last_error : j.params, 160)) + "</code>" +
         (j.corrupt ? " <span class=\"badge warn\">corrupt</span>" : "") + "</td>";
    if (CanWrite(f)) {
      const std::string id = std::to_string(j.id);
      h += "<td class=\"actions\">";
      if (abandoned) h += Button(f, "/job/retry", q, id, "Retry", "primary", nullptr);
      h += Button(f, "/job/delete", q, id, "Delete", "danger",
                  ("Delete job " + id + "?").c_str()) + "</td>";
    }
    h += "</tr>";
  }
  if (jobs.empty()) {
    h += "<tr class=\"empty\"><td colspan=\"6\">No " + std::string(kStateNames[static_cast<int>(state)]) +
         " job.</td></tr>";
  }
  h += "</tbody></table>";
  if (!next.empty()) {
    h += "<p><a href=\"" +
         HtmlEscape(QueueLink(q, kStateNames[static_cast<int>(state)]) + "&cursor=" + UrlEncode(next)) +
         "\">Next page ›</a></p>";
  }
  return h + Foot(f);
}

std::string JobPage(const PageFrame& f, const JobInfo& j) {
  const QueueRef& q = j.queue;
  const std::string title = "job " + std::to_string(j.id);
  std::string h = Head(f, title);
  h += "<nav class=\"crumbs\"><a href=\"/\">Queues</a> › <a href=\"" +
       HtmlEscape(QueueLink(q, kStateNames[static_cast<int>(j.state)])) + "\">" +
       HtmlEscape(q.type) + (q.domain.empty() ? "" : " (" + HtmlEscape(q.domain) + ")") +
       "</a> › " + HtmlEscape(title) + "</nav><h1>Job " + std::to_string(j.id) +
       " <span class=\"badge state-" + kStateNames[static_cast<int>(j.state)] + "\" id=\"state\">" +
       kStateNames[static_cast<int>(j.state)] + "</span></h1><dl class=\"job\">";
  auto row = [&](const char* k, const std::string& v) {
    h += "<dt>" + std::string(k) + "</dt><dd>" + v + "</dd>";
  };
  row("Type", HtmlEscape(q.type));
  if (!q.domain.empty()) row("Domain", HtmlEscape(q.domain));
  row("Attempts", std::to_string(j.attempts));
  row("Priority", std::to_string(j.priority));
  row("Enqueued", FormatTime(j.enqueued_at_ms) + " (" + FormatAge(f.now_ms - j.enqueued_at_ms) + " ago)");
  if (j.state == JobState::kDelayed) row("Ready at", FormatTime(j.release_at_ms));
  if (j.state == JobState::kClaimed) {
    row("Lease ends", j.deadline_ms == INT64_MAX ? "never" : FormatTime(j.deadline_ms));
  }
  if (j.claimed_at_ms) row("Last claimed", FormatTime(j.claimed_at_ms));
  if (j.state == JobState::kAbandoned) row("Abandoned", FormatTime(j.abandoned_at_ms));
  if (!j.root_signature.empty()) {
    row("Root job", HtmlEscape(j.root_signature) + " at " + FormatTime(j.root_timestamp_ms));
  }
  if (j.dedup) row("Deduplicated", "yes");
  if (j.corrupt) row("Record", "<span class=\"badge warn\">corrupt: it failed to decode</span>");
  h += "</dl>";
  if (!j.last_error.empty()) {
    h += "<h2>Last error</h2><pre class=\"error\" id=\"error\">" + HtmlEscape(j.last_error) + "</pre>";
  }
  h += "<h2>Params <small>" + std::to_string(j.params.size()) + " bytes</small></h2>"
       "<pre class=\"params\" id=\"params\">" + HtmlEscape(j.params) + "</pre>";
  if (CanWrite(f)) {
    const std::string id = std::to_string(j.id);
    h += "<p class=\"actions\">";
    if (j.state == JobState::kAbandoned) h += Button(f, "/job/retry", q, id, "Retry", "primary", nullptr);
    h += Button(f, "/job/delete", q, id, "Delete", "danger", ("Delete job " + id + "?").c_str()) +
         "</p>";
  }
  return h + Foot(f);
}

std::string ErrorPage(const PageFrame& f, unsigned status, std::string_view message) {
  return Head(f, "error " + std::to_string(status)) + "<h1>" + std::to_string(status) +
         "</h1><p class=\"error\" id=\"message\">" + HtmlEscape(message) +
         "</p><p><a href=\"/\">Back to the queues</a></p>" + Foot(f);
}

const char kAppCss[] = R"CSS(:root{--fg:#1d232b;--mute:#6a7480;--line:#e3e7ec;--bg:#f6f8fa;--card:#fff;
--accent:#2563eb;--ok:#15803d;--warn:#b45309;--bad:#b91c1c}
*{box-sizing:border-box}
body{margin:0;font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,Helvetica,Arial,sans-serif;
color:var(--fg);background:var(--bg)}
header{display:flex;align-items:center;gap:12px;padding:10px 24px;background:#111827;color:#e5e7eb}
header .brand{color:#fff;font-weight:700;font-size:16px;text-decoration:none;letter-spacing:.3px}
header .store{color:#9ca3af;font-family:ui-monospace,SFMono-Regular,Menlo,monospace;font-size:12px}
header .spacer{flex:1}
header input{padding:4px 8px;border:1px solid #374151;border-radius:4px;background:#1f2937;color:#fff}
main{max-width:1100px;margin:24px auto;padding:0 24px}
h1{font-size:22px;margin:0 0 16px}h1 small{color:var(--mute);font-weight:400;font-size:14px}
h2{font-size:15px;margin:20px 0 8px}h2 small{color:var(--mute);font-weight:400}
table{width:100%;border-collapse:collapse;background:var(--card);border:1px solid var(--line);
border-radius:6px;overflow:hidden}
th,td{padding:8px 12px;border-bottom:1px solid var(--line);text-align:left;vertical-align:top}
th{background:#f1f4f7;font-weight:600;color:#374151;font-size:12px;text-transform:uppercase;
letter-spacing:.4px}
tbody tr:hover{background:#f9fbfd}
tfoot td{font-weight:600;background:#f9fafb;border-bottom:0}
td.n,th.n{text-align:right;font-variant-numeric:tabular-nums}
td.zero{color:#b6bec8}
td.abandoned:not(.zero){color:var(--bad);font-weight:600}
td.ready:not(.zero){color:var(--accent);font-weight:600}
td code{font-family:ui-monospace,SFMono-Regular,Menlo,monospace;font-size:12px;word-break:break-all}
td.error code{color:var(--bad)}
a{color:var(--accent);text-decoration:none}a:hover{text-decoration:underline}
.badge{display:inline-block;padding:2px 8px;border-radius:999px;background:#374151;color:#e5e7eb;
font-size:12px;font-weight:500;vertical-align:middle}
.badge.ok{background:#14532d;color:#dcfce7}.badge.warn{background:#fef3c7;color:#92400e}
.state-ready{background:#dbeafe;color:#1e40af}.state-claimed{background:#ede9fe;color:#5b21b6}
.state-delayed{background:#fef3c7;color:#92400e}.state-abandoned{background:#fee2e2;color:#991b1b}
form.inline{display:inline;margin:0 0 0 4px}
button{font:inherit;font-size:12px;padding:4px 10px;border-radius:4px;border:1px solid #cbd2d9;
background:#fff;color:var(--fg);cursor:pointer}
button.primary{background:var(--accent);border-color:var(--accent);color:#fff}
button.danger{color:var(--bad);border-color:#f3c4c4}
header button{background:#374151;border-color:#4b5563;color:#fff}
.tabs{display:flex;gap:4px;margin:0 0 12px}
.tab{padding:6px 12px;border-radius:6px;color:#374151;background:#e9edf1}
.tab.on{background:#111827;color:#fff}.tab b{font-variant-numeric:tabular-nums}
.crumbs{color:var(--mute);margin-bottom:8px}
.note{background:#ecfdf5;border:1px solid #a7f3d0;color:#065f46;padding:8px 12px;border-radius:6px}
p.error{background:#fef2f2;border:1px solid #fecaca;color:var(--bad);padding:8px 12px;border-radius:6px}
pre{background:var(--card);border:1px solid var(--line);border-radius:6px;padding:12px;
overflow:auto;white-space:pre-wrap;word-break:break-all;font-size:12px}
pre.error{color:var(--bad)}
dl.job{display:grid;grid-template-columns:140px 1fr;gap:6px 16px;background:var(--card);
border:1px solid var(--line);border-radius:6px;padding:12px 16px;margin:0}
dl.job dt{color:var(--mute)}dl.job dd{margin:0}
.hint,footer{color:var(--mute);font-size:12px}
footer{max-width:1100px;margin:0 auto 24px;padding:0 24px}
tr.empty td{color:var(--mute);text-align:center;padding:24px}
)CSS";

// Refreshes the queue table from /api/queues every 2 s (textContent only: the store's names
// never become markup), and asks before a destructive write.
const char kAppJs[] = R"JS("use strict";
(function () {
  function age(ms) {
    var s = Math.max(0, Math.floor(ms / 1000));
    function two(a, ua, b, ub) { return a + ua + (b ? " " + b + ub : ""); }
    if (s < 60) return s + "s";
    if (s < 3600) return two(Math.floor(s / 60), "m", s % 60, "s");
    if (s < 86400) return two(Math.floor(s / 3600), "h", Math.floor(s % 3600 / 60), "m");
    return two(Math.floor(s / 86400), "d", Math.floor(s % 86400 / 3600), "h");
  }
  function cell(tr, text, cls) {
    var td = document.createElement("td");
    if (cls) td.className = cls;
    td.textContent = text;
    tr.appendChild(td);
    return td;
  }
  function count(tr, state, n) {
    var td = cell(tr, String(n), "n " + state + (n ? "" : " zero"));
    td.setAttribute("data-state", state);
  }
  document.querySelectorAll("form[data-confirm]").forEach(function (form) {
    form.addEventListener("submit", function (e) {
      if (!window.confirm(form.getAttribute("data-confirm"))) e.preventDefault();
    });
  });
  var table = document.getElementById("queues");
  if (!table) return;
  var live = document.getElementById("live");
  var routed = table.getAttribute("data-routed") === "1";
  function render(data) {
    var rows = [], total = {ready: 0, claimed: 0, delayed: 0, abandoned: 0};
    data.queues.forEach(function (q) {
      var tr = document.createElement("tr");
      tr.id = "queue:" + q.domain + "/" + q.type;
      cell(tr, q.domain, "domain");
      var a = document.createElement("a");
      a.href = "/queue?domain=" + encodeURIComponent(q.domain) + "&type=" + encodeURIComponent(q.type);
      a.textContent = q.type;
      cell(tr, "", "type").appendChild(a);
      if (routed) cell(tr, q.backend, "backend");
      ["ready", "claimed", "delayed", "abandoned"].forEach(function (s) {
        count(tr, s, q[s]);
        total[s] += q[s];
      });
      var td = cell(tr, q.ready ? age(q.oldest_ready_ms) : "\u2014", "n age");
      td.setAttribute("data-ms", String(q.oldest_ready_ms));
      rows.push(tr);
    });
    var body = table.tBodies[0];
    if (rows.length) body.replaceChildren.apply(body, rows);
    var foot = table.tFoot.rows[0];
    foot.cells[0].textContent = data.queues.length + (data.queues.length === 1 ? " queue" : " queues");
    ["ready", "claimed", "delayed", "abandoned"].forEach(function (s, i) {
      var td = foot.cells[1 + i];
      td.textContent = String(total[s]);
      td.className = "n " + s + (total[s] ? "" : " zero");
    });
    var asof = document.getElementById("asof");
    if (asof) asof.textContent = new Date(data.now_ms).toISOString().replace("T", " ").replace(/\.\d+Z$/, " UTC");
  }
  function refresh() {
    fetch("/api/queues", {cache: "no-store", credentials: "same-origin"})
      .then(function (r) { if (!r.ok) throw new Error("HTTP " + r.status); return r.json(); })
      .then(function (data) { render(data); live.textContent = "Updates every 2 seconds."; })
      .catch(function (e) { live.textContent = "Not updating: " + e.message; });
  }
  setInterval(refresh, 2000);
})();
)JS";

}  // namespace jobstore::observe
