// The status server over real HTTP: a kj-http client against the server on 127.0.0.1 (a free
// port picked by the kernel). Pages, /api/queues and /metrics with exact counts; escaping; the
// token, CSRF, Origin and read-only checks of every write; bad requests.
#include <nlohmann/json.hpp>

#include <atomic>
#include <thread>

#include "jobstore/status_server.h"
#include "observe/http_client.h"
#include "observe/observe_fixture.h"

namespace jobstore::testing {
namespace {

constexpr const char* kToken = "s3cret-token-0123456789";
const QueueRef kEmail{"", "email"};

class StatusServerTest : public ObserveTest {
 protected:
  void StartServer(const std::string& token = "") {
    StatusServerOptions o;
    o.token = token;
    o.metrics = metrics_;
    auto s = StatusServer::Start(*store_, o);
    ASSERT_TRUE(s.ok()) << s.status().ToString();
    server_ = std::move(s).value();
    ASSERT_NE(server_->port(), 0);
    client_ = std::make_unique<TestHttpClient>(server_->port());
  }
  void TearDown() override {
    client_.reset();
    server_.reset();
  }

  // Three ready email jobs, and one abandoned with `error` (params `params`); returns its id.
  JobId Seed(const std::string& params = "{\"to\":\"a@example.com\"}",
             const std::string& error = "smtp: 550 mailbox unavailable") {
    TypeSettings once;
    once.max_tries = 1;
    EXPECT_TRUE(store_->SetTypeSettings("email", once).ok());
    Push({Spec("email", params)});
    auto claimed = ClaimN(kEmail, 1);
    EXPECT_EQ(claimed.size(), 1u);
    EXPECT_TRUE(store_->Release(claimed[0].claim, 0, error).ok());
    Push({Spec("email", "1"), Spec("email", "2"), Spec("email", "3")});
    return claimed[0].claim.id;
  }

  QueueCounts Counts() {
    auto c = store_->Counts(kEmail);
    EXPECT_TRUE(c.ok());
    return c.ok() ? *c : QueueCounts{};
  }

  // Signs in with `token`; returns the Cookie header value and the page's CSRF token.
  std::pair<std::string, std::string> SignIn(const std::string& token = kToken) {
    HttpResponse r = client_->Post("/login", "token=" + FormEncode(token));
    EXPECT_EQ(r.status, 303u) << r.body;
    const std::string set = r.headers["set-cookie"];
    const std::string cookie = set.substr(0, set.find(';'));
    EXPECT_EQ(cookie.rfind("jobstore_session_" + std::to_string(server_->port()) + "=", 0), 0u) << set;
    EXPECT_NE(set.find("HttpOnly"), std::string::npos);
    EXPECT_NE(set.find("SameSite=Strict"), std::string::npos);
    HttpResponse page = client_->Get("/", {{"Cookie", cookie}});
    return {cookie, Csrf(page.body)};
  }

  static std::string Csrf(const std::string& page) {
    const std::string mark = "name=\"csrf\" value=\"";
    size_t at = page.find(mark);
    if (at == std::string::npos) return "";
    at += mark.size();
    return page.substr(at, page.find('"', at) - at);
  }

  std::string RetryForm(JobId id, const std::string& csrf) {
    return "csrf=" + csrf + "&domain=&type=email&id=" + std::to_string(id);
  }

  std::unique_ptr<StatusServer> server_;
  std::unique_ptr<TestHttpClient> client_;
};

TEST_F(StatusServerTest, MetricsAreServedAsPrometheusText) {
  Seed();
  StartServer();
  HttpResponse r = client_->Get("/metrics");
  EXPECT_EQ(r.status, 200u);
  EXPECT_EQ(r.headers["content-type"], "text/plain; version=0.0.4; charset=utf-8");
  EXPECT_EQ(SampleValue(r.body, "jobstore_jobs_pushed_total{domain=\"\",type=\"email\"}"), "4");
  EXPECT_EQ(SampleValue(r.body, "jobstore_queue_jobs{domain=\"\",type=\"email\",state=\"abandoned\"}"), "1");
  EXPECT_EQ(SampleValue(r.body, "jobstore_queue_jobs{domain=\"\",type=\"email\",state=\"ready\"}"), "3");
}

TEST_F(StatusServerTest, QueuesPageAndApiShowExactCounts) {
  Seed();
  Push({Spec("resize", "x", "wiki")});
  clock_->Advance(125'000);
  StartServer();
  HttpResponse page = client_->Get("/");
  EXPECT_EQ(page.status, 200u);
  EXPECT_EQ(page.headers["content-type"], "text/html; charset=utf-8");
  const std::string& b = page.body;
  const size_t row = b.find("<tr id=\"queue:/email\">");
  ASSERT_NE(row, std::string::npos) << b;
  const std::string email = b.substr(row, b.find("</tr>", row) - row);
  EXPECT_NE(email.find("data-state=\"ready\">3</td>"), std::string::npos) << email;
  EXPECT_NE(email.find("data-state=\"abandoned\">1</td>"), std::string::npos) << email;
  EXPECT_NE(email.find("data-state=\"claimed\">0</td>"), std::string::npos) << email;
  EXPECT_NE(email.find(">2m 5s</td>"), std::string::npos) << email;  // head pushed 125 s ago
  EXPECT_NE(b.find("<tr id=\"queue:wiki/resize\">"), std::string::npos);
  EXPECT_NE(b.find(">2 queues</td>"), std::string::npos);

  HttpResponse api = client_->Get("/api/queues");
  EXPECT_EQ(api.status, 200u);
  auto j = nlohmann::json::parse(api.body);
  ASSERT_EQ(j["queues"].size(), 2u);
  EXPECT_EQ(j["queues"][0]["type"], "email");
  EXPECT_EQ(j["queues"][0]["ready"], 3);
  EXPECT_EQ(j["queues"][0]["abandoned"], 1);
  EXPECT_EQ(j["queues"][0]["oldest_ready_ms"], 125'000);
  EXPECT_EQ(j["queues"][1]["domain"], "wiki");
  EXPECT_EQ(j["now_ms"], kT0 + 125'000);
}

TEST_F(StatusServerTest, QueuePageListsAbandonedJobsWithTheirErrors) {
  const JobId id = Seed();
  StartServer();
  HttpResponse r = client_->Get("/queue?domain=&type=email");
  EXPECT_EQ(r.status, 200u);
  EXPECT_NE(r.body.find("<tr id=\"job-" + std::to_string(id) + "\">"), std::string::npos) << r.body;
  EXPECT_NE(r.body.find("smtp: 550 mailbox unavailable"), std::string::npos);
  EXPECT_NE(r.body.find("data-state=\"abandoned\" href"), std::string::npos);
  // The ready tab lists the three ready ones.
  HttpResponse ready = client_->Get("/queue?type=email&state=ready");
  EXPECT_EQ(ready.status, 200u);
  size_t rows = 0;
  for (size_t at = 0; (at = ready.body.find("<tr id=\"job-", at)) != std::string::npos; ++at) ++rows;
  EXPECT_EQ(rows, 3u);
  // One job's page.
  HttpResponse job = client_->Get("/job?type=email&id=" + std::to_string(id));
  EXPECT_EQ(job.status, 200u);
  EXPECT_NE(job.body.find("id=\"state\">abandoned</span>"), std::string::npos);
  EXPECT_NE(job.body.find("<pre class=\"error\" id=\"error\">smtp: 550 mailbox unavailable</pre>"),
            std::string::npos);
}

TEST_F(StatusServerTest, ParamsAndErrorsAreEscaped) {
  const JobId id = Seed("<script>alert(1)</script>\"'&", "<img src=x onerror=alert(2)>");
  StartServer();
  for (const std::string& path :
       {"/job?type=email&id=" + std::to_string(id), std::string("/queue?type=email")}) {
    HttpResponse r = client_->Get(path);
    EXPECT_EQ(r.status, 200u);
    EXPECT_EQ(r.body.find("<script>alert"), std::string::npos) << path;
    EXPECT_EQ(r.body.find("<img src=x"), std::string::npos) << path;
    EXPECT_NE(r.body.find("&lt;img src=x onerror=alert(2)&gt;"), std::string::npos) << path;
    // The only scripts are the page's own, and the policy forbids any other.
    EXPECT_NE(r.headers["content-security-policy"].find("script-src 'self'"), std::string::npos);
    EXPECT_EQ(r.headers["x-content-type-options"], "nosniff");
  }
  HttpResponse job = client_->Get("/job?type=email&id=" + std::to_string(id));
  EXPECT_NE(job.body.find("&lt;script&gt;alert(1)&lt;/script&gt;&quot;&#39;&amp;"), std::string::npos);
}

TEST_F(StatusServerTest, ThePageServesItsOwnScriptAndStyle) {
  StartServer();
  HttpResponse page = client_->Get("/");
  EXPECT_NE(page.body.find("<script src=\"/static/app.js\" defer></script>"), std::string::npos);
  EXPECT_NE(page.body.find("<link rel=\"stylesheet\" href=\"/static/app.css\">"), std::string::npos);
  // Nothing from elsewhere: every src and href is a path of this server.
  for (const char* attr : {"src=\"", "href=\""}) {
    for (size_t at = 0; (at = page.body.find(attr, at)) != std::string::npos; ++at) {
      EXPECT_EQ(page.body[at + std::string(attr).size()], '/') << page.body.substr(at, 60);
    }
  }
  HttpResponse js = client_->Get("/static/app.js");
  EXPECT_EQ(js.status, 200u);
  EXPECT_EQ(js.headers["content-type"], "text/javascript; charset=utf-8");
  EXPECT_NE(js.body.find("/api/queues"), std::string::npos);
  EXPECT_EQ(js.body.find("innerHTML"), std::string::npos);  // text only, never markup
  HttpResponse css = client_->Get("/static/app.css");
  EXPECT_EQ(css.status, 200u);
  EXPECT_EQ(css.headers["content-type"], "text/css; charset=utf-8");
  EXPECT_NE(css.body.find("table{"), std::string::npos);
}

TEST_F(StatusServerTest, WithoutATokenThePageIsReadOnly) {
  const JobId id = Seed();
  StartServer();
  HttpResponse page = client_->Get("/queue?type=email");
  EXPECT_EQ(page.body.find("/job/retry"), std::string::npos);
  EXPECT_EQ(page.body.find("action=\"/login\""), std::string::npos);
  EXPECT_NE(page.body.find("read-only page"), std::string::npos);
  HttpResponse login = client_->Post("/login", "token=anything-at-all-here");
  EXPECT_EQ(login.status, 403u);
  HttpResponse r = client_->Post("/job/retry", RetryForm(id, "x"));
  EXPECT_EQ(r.status, 403u);
  EXPECT_NE(r.body.find("--http-token-file"), std::string::npos) << r.body;
  EXPECT_EQ(Counts().abandoned, 1u);
}

TEST_F(StatusServerTest, TheTokenSignsInAndAWrongOneIsRefused) {
  const JobId id = Seed();
  StartServer(kToken);
  HttpResponse page = client_->Get("/");
  EXPECT_NE(page.body.find("action=\"/login\""), std::string::npos);
  EXPECT_EQ(Csrf(page.body), "");  // no session, no form that writes
  HttpResponse wrong = client_->Post("/login", "token=s3cret-token-0123456780");
  EXPECT_EQ(wrong.status, 403u);
  EXPECT_EQ(wrong.headers.count("set-cookie"), 0u);
  EXPECT_NE(wrong.body.find("wrong token"), std::string::npos);
  // A write without signing in.
  HttpResponse anon = client_->Post("/job/retry", RetryForm(id, "whatever"));
  EXPECT_EQ(anon.status, 403u);
  EXPECT_NE(anon.body.find("sign in"), std::string::npos);
  EXPECT_EQ(Counts().abandoned, 1u);

  auto [cookie, csrf] = SignIn();
  EXPECT_EQ(csrf.size(), 32u);
  HttpResponse queue = client_->Get("/queue?type=email", {{"Cookie", cookie}});
  EXPECT_NE(queue.body.find("action=\"/job/retry\""), std::string::npos);
  EXPECT_NE(queue.body.find("Repush all 1 abandoned"), std::string::npos);
  // The token never appears in a page.
  EXPECT_EQ(queue.body.find(kToken), std::string::npos);
}

TEST_F(StatusServerTest, RetryDeleteAndRepushWithASession) {
  const JobId id = Seed();
  StartServer(kToken);
  auto [cookie, csrf] = SignIn();
  HttpResponse r = client_->Post("/job/retry", RetryForm(id, csrf), {{"Cookie", cookie}});
  EXPECT_EQ(r.status, 303u) << r.body;
  EXPECT_EQ(r.headers["location"], "/job?domain=&type=email&id=" + std::to_string(id));
  EXPECT_EQ(Counts(), (QueueCounts{4, 0, 0, 0}));
  HttpResponse after = client_->Get(r.headers["location"], {{"Cookie", cookie}});
  EXPECT_NE(after.body.find("Retried job " + std::to_string(id) + " of queue &#39;email&#39;: it is ready again."),
            std::string::npos) << after.body;
  EXPECT_NE(after.body.find("id=\"state\">ready</span>"), std::string::npos);
  // A second retry: the job is no longer abandoned.
  HttpResponse again = client_->Post("/job/retry", RetryForm(id, csrf), {{"Cookie", cookie}});
  EXPECT_EQ(again.status, 409u);
  EXPECT_NE(again.body.find("ready"), std::string::npos) << again.body;

  HttpResponse del = client_->Post("/job/delete", RetryForm(id, csrf), {{"Cookie", cookie}});
  EXPECT_EQ(del.status, 303u) << del.body;
  EXPECT_EQ(Counts(), (QueueCounts{3, 0, 0, 0}));
  HttpResponse missing = client_->Post("/job/delete", RetryForm(id, csrf), {{"Cookie", cookie}});
  EXPECT_EQ(missing.status, 404u);

  // Abandon two, repush both.
  for (auto& c : ClaimN(kEmail, 2)) ASSERT_TRUE(store_->Release(c.claim, 0, "x").ok());
  HttpResponse repush = client_->Post("/queue/repush", "csrf=" + csrf + "&type=email&domain=",
                                      {{"Cookie", cookie}});
  EXPECT_EQ(repush.status, 303u) << repush.body;
  EXPECT_EQ(Counts(), (QueueCounts{3, 0, 0, 0}));
  HttpResponse note = client_->Get(repush.headers["location"], {{"Cookie", cookie}});
  EXPECT_NE(note.body.find("Repushed 2 abandoned jobs of queue &#39;email&#39;."), std::string::npos);

  // Signing out ends the session.
  HttpResponse out = client_->Post("/logout", "csrf=" + csrf, {{"Cookie", cookie}});
  EXPECT_EQ(out.status, 303u);
  HttpResponse late = client_->Post("/job/delete", RetryForm(id, csrf), {{"Cookie", cookie}});
  EXPECT_EQ(late.status, 403u);
}

TEST_F(StatusServerTest, AWriteWithoutTheSessionsCsrfTokenIsRefused) {
  const JobId id = Seed();
  StartServer(kToken);
  auto [cookie, csrf] = SignIn();
  auto other = SignIn();  // another session's token is not this one's
  ASSERT_NE(other.second, csrf);
  for (const std::string& form :
       {"domain=&type=email&id=" + std::to_string(id), RetryForm(id, ""), RetryForm(id, (csrf[0] == '0' ? "1" : "0") + csrf.substr(1)),
        RetryForm(id, other.second)}) {
    HttpResponse r = client_->Post("/job/retry", form, {{"Cookie", cookie}});
    EXPECT_EQ(r.status, 403u) << form;
    EXPECT_NE(r.body.find("CSRF"), std::string::npos) << r.body;
  }
  // The right token without the cookie: no session.
  HttpResponse bare = client_->Post("/job/retry", RetryForm(id, csrf));
  EXPECT_EQ(bare.status, 403u);
  // A GET never writes.
  HttpResponse get = client_->Get("/job/retry?" + RetryForm(id, csrf), {{"Cookie", cookie}});
  EXPECT_EQ(get.status, 405u);
  EXPECT_EQ(get.headers["allow"], "POST");
  EXPECT_EQ(Counts().abandoned, 1u);
}

TEST_F(StatusServerTest, AWriteFromAnotherOriginIsRefused) {
  const JobId id = Seed();
  StartServer(kToken);
  auto [cookie, csrf] = SignIn();
  HttpResponse evil = client_->Post("/job/retry", RetryForm(id, csrf),
                                    {{"Cookie", cookie}, {"Origin", "http://evil.example"}});
  EXPECT_EQ(evil.status, 403u);
  EXPECT_NE(evil.body.find("another origin"), std::string::npos);
  EXPECT_EQ(Counts().abandoned, 1u);
  const std::string self = "http://127.0.0.1:" + std::to_string(server_->port());
  HttpResponse ok = client_->Post("/job/retry", RetryForm(id, csrf),
                                  {{"Cookie", cookie}, {"Origin", self}});
  EXPECT_EQ(ok.status, 303u) << ok.body;
  EXPECT_EQ(Counts().abandoned, 0u);
}

TEST_F(StatusServerTest, AReadOnlyStoreRefusesWritesWhateverTheToken) {
  const JobId id = Seed();
  store_->SetReadOnly(true);
  StartServer(kToken);
  auto [cookie, csrf] = SignIn();
  HttpResponse page = client_->Get("/queue?type=email", {{"Cookie", cookie}});
  EXPECT_NE(page.body.find("store is read-only"), std::string::npos);
  EXPECT_EQ(page.body.find("action=\"/job/retry\""), std::string::npos);
  // Even a hand-made form is refused by the store.
  HttpResponse r = client_->Post("/job/retry", RetryForm(id, csrf), {{"Cookie", cookie}});
  EXPECT_EQ(r.status, 409u);
  EXPECT_NE(r.body.find("read-only"), std::string::npos) << r.body;
  HttpResponse repush =
      client_->Post("/queue/repush", "csrf=" + csrf + "&type=email", {{"Cookie", cookie}});
  EXPECT_EQ(repush.status, 409u);
  store_->SetReadOnly(false);
  EXPECT_EQ(Counts().abandoned, 1u);
}

TEST_F(StatusServerTest, BadRequestsGetErrorsAndTheServerKeepsServing) {
  Seed();
  StartServer(kToken);
  struct Case {
    std::string path;
    unsigned status;
    const char* says;
  };
  for (const Case& c : {Case{"/job?type=email&id=abc", 400, "id as a number"},
                        Case{"/job?type=email&id=99999", 404, "99999"},
                        Case{"/job?type=bad%20name&id=1", 400, "bad name"},
                        Case{"/queue", 400, "type"},
                        Case{"/queue?type=email&state=lost", 400, "lost"},
                        Case{"/queue?type=email&state=ready&cursor=zzz", 400, "cursor"},
                        Case{"/nothing", 404, "nothing at /nothing"}}) {
    HttpResponse r = client_->Get(c.path);
    EXPECT_EQ(r.status, c.status) << c.path << "\n" << r.body;
    EXPECT_NE(r.body.find(c.says), std::string::npos) << c.path << "\n" << r.body;
  }
  HttpResponse post = client_->Post("/", "x=1");
  EXPECT_EQ(post.status, 405u);
  EXPECT_EQ(post.headers["allow"], "GET");
  HttpResponse big = client_->Post("/login", "token=" + std::string(70'000, 'a'));
  EXPECT_EQ(big.status, 413u);
  const std::string garbage = client_->Raw("\x01\x02 NOT HTTP\r\n\r\n");
  // kj-http answers what it cannot parse itself (4xx or 5xx) and closes that connection.
  ASSERT_EQ(garbage.rfind("HTTP/1.1 ", 0), 0u) << garbage;
  EXPECT_GE(std::stoi(garbage.substr(9, 3)), 400) << garbage;
  EXPECT_EQ(client_->Get("/").status, 200u);
}

TEST_F(StatusServerTest, ConcurrentClientsAllGetTheirAnswers) {
  Seed();
  StartServer(kToken);
  std::atomic<int> good{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      TestHttpClient c(server_->port());
      for (int i = 0; i < 15; ++i) {
        HttpResponse r = c.Get(i % 3 == 0 ? "/metrics" : i % 3 == 1 ? "/api/queues" : "/");
        if (r.status == 200) good.fetch_add(1);
      }
    });
  }
  // The store keeps changing meanwhile.
  for (int i = 0; i < 20; ++i) Push({Spec("email", std::to_string(i))});
  for (auto& t : threads) t.join();
  EXPECT_EQ(good.load(), 60);
  EXPECT_EQ(SampleValue(client_->Get("/metrics").body,
                        "jobstore_jobs_pushed_total{domain=\"\",type=\"email\"}"),
            "24");
}

TEST(StatusServerStart, RefusesBadAddressesTokensAndBusyPorts) {
  auto store = Store::Open("memory:");
  ASSERT_TRUE(store.ok());
  for (const char* bad : {"nonsense", "127.0.0.1:", "127.0.0.1:99999", ":80", "host:12a"}) {
    auto s = StatusServer::Start(**store, {.listen = bad});
    ASSERT_FALSE(s.ok()) << bad;
    EXPECT_TRUE(s.status().IsInvalidArgument()) << s.status().ToString();
    EXPECT_NE(s.status().message().find("HOST:PORT"), std::string::npos);
  }
  auto short_token = StatusServer::Start(**store, {.token = "short"});
  ASSERT_FALSE(short_token.ok());
  EXPECT_NE(short_token.status().message().find("at least 16"), std::string::npos);
  auto first = StatusServer::Start(**store, {});
  ASSERT_TRUE(first.ok()) << first.status().ToString();
  auto second = StatusServer::Start(
      **store, {.listen = "127.0.0.1:" + std::to_string((*first)->port())});
  ASSERT_FALSE(second.ok());
  EXPECT_TRUE(second.status().IsIOError()) << second.status().ToString();
  EXPECT_EQ((*first)->url(), "http://127.0.0.1:" + std::to_string((*first)->port()) + "/");
}

}  // namespace
}  // namespace jobstore::testing
