// The status page in a real browser: headless Chromium loads the page of a store with known
// jobs; the rendered DOM (--dump-dom) has the exact counts; a retry posted with a session
// changes them; screenshots go under the build directory (observe-*.png).
#include <filesystem>

#include "jobstore/status_server.h"
#include "observe/http_client.h"
#include "observe/observe_fixture.h"

namespace jobstore::testing {
namespace {

constexpr const char* kToken = "browser-test-token-0123456789";

class BrowserTest : public ObserveTest {
 protected:
  // Runs headless Chromium on `url` with `mode` ("--dump-dom" or "--screenshot=PATH");
  // returns what it printed on stdout.
  std::string Chromium(const std::string& url, const std::string& mode) {
    // As root Chromium needs --no-sandbox; the rest keep it from reaching for the network
    // (there is none: its attempts would hang the run) and from sharing a profile.
    const std::string command =
        "timeout 120 " + std::string(JOBSTORE_CHROMIUM) +
        " --headless --no-sandbox --disable-gpu --no-first-run --disable-background-networking"
        " --disable-component-update --disable-sync --disable-extensions --hide-scrollbars"
        " --window-size=1200,720 --user-data-dir=" + dir_.Sub("chromium-" + std::to_string(runs_++)) +
        " " + mode + " '" + url + "' 2>/dev/null";
    std::string out;
    FILE* p = popen(command.c_str(), "r");
    EXPECT_NE(p, nullptr);
    if (!p) return out;
    char buf[4096];
    size_t n;
    while ((n = fread(buf, 1, sizeof(buf), p)) > 0) out.append(buf, n);
    const int status = pclose(p);
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0)
        << command << " exited with " << status << " (is chromium installed? "
        << "scripts/install-deps.sh)";
    return out;
  }

  // The text of the cell of `state` in the row of queue `row_id`, as rendered.
  static std::string Cell(const std::string& dom, const std::string& row_id, const char* state) {
    const size_t row = dom.find("<tr id=\"" + row_id + "\">");
    if (row == std::string::npos) return "(no row " + row_id + ")";
    const std::string tr = dom.substr(row, dom.find("</tr>", row) - row);
    const std::string mark = std::string("data-state=\"") + state + "\">";
    const size_t at = tr.find(mark);
    if (at == std::string::npos) return "(no cell)";
    const size_t from = at + mark.size();
    return tr.substr(from, tr.find('<', from) - from);
  }

  int runs_ = 0;
};

TEST_F(BrowserTest, RendersExactCountsAndSeesARetry) {
  TypeSettings once;
  once.max_tries = 1;
  ASSERT_TRUE(store_->SetTypeSettings("email", once).ok());
  Push({Spec("email", "{\"to\":\"a@example.com\"}"), Spec("email", "<script>document.title='owned'</script>"),
        Spec("email", "3"), Spec("email", "4"), Spec("thumbnail", "t1", "wiki"),
        Spec("thumbnail", "t2", "wiki")});
  auto claimed = ClaimN({"", "email"}, 2);
  ASSERT_EQ(claimed.size(), 2u);
  ASSERT_TRUE(store_->Release(claimed[0].claim, 0, "smtp: 550 mailbox unavailable").ok());
  ASSERT_TRUE(store_->Release(claimed[1].claim, 0, "timeout <after 30s>").ok());
  ASSERT_EQ(ClaimN({"wiki", "thumbnail"}, 1).size(), 1u);
  clock_->Advance(75'000);

  StatusServerOptions o;
  o.token = kToken;
  o.metrics = metrics_;
  auto server = StatusServer::Start(*store_, o);
  ASSERT_TRUE(server.ok()) << server.status().ToString();
  const std::string base = (*server)->url();

  const std::string dom = Chromium(base, "--dump-dom");
  EXPECT_EQ(Cell(dom, "queue:/email", "ready"), "2") << dom;
  EXPECT_EQ(Cell(dom, "queue:/email", "abandoned"), "2");
  EXPECT_EQ(Cell(dom, "queue:wiki/thumbnail", "ready"), "1");
  EXPECT_EQ(Cell(dom, "queue:wiki/thumbnail", "claimed"), "1");
  EXPECT_NE(dom.find(">1m 15s<"), std::string::npos);
  // The queue page, as rendered: the script in a job's params is text, and never ran.
  const std::string queue = Chromium(base + "queue?type=email&state=abandoned", "--dump-dom");
  EXPECT_NE(queue.find("smtp: 550 mailbox unavailable"), std::string::npos) << queue;
  EXPECT_NE(queue.find("timeout &lt;after 30s&gt;"), std::string::npos);
  const std::string job = Chromium(base + "job?type=email&id=" + std::to_string(claimed[1].claim.id),
                                   "--dump-dom");
  EXPECT_NE(job.find("&lt;script&gt;document.title='owned'&lt;/script&gt;"), std::string::npos) << job;
  EXPECT_EQ(job.find("<title>owned"), std::string::npos);
  EXPECT_NE(job.find("<title>job " + std::to_string(claimed[1].claim.id) + " · jobstore</title>"),
            std::string::npos);

  const std::string shots = std::string(JOBSTORE_BUILD_DIR) + "/observe-screenshots";
  std::filesystem::create_directories(shots);
  Chromium(base, "--screenshot=" + shots + "/queues.png");
  Chromium(base + "queue?type=email&state=abandoned", "--screenshot=" + shots + "/abandoned.png");
  EXPECT_GT(std::filesystem::file_size(shots + "/queues.png"), 10'000u);

  // Retry one abandoned job through the page's own form, as a signed-in person would.
  TestHttpClient client((*server)->port());
  HttpResponse login = client.Post("/login", "token=" + FormEncode(kToken));
  ASSERT_EQ(login.status, 303u) << login.body;
  const std::string cookie = login.headers["set-cookie"].substr(0, login.headers["set-cookie"].find(';'));
  HttpResponse page = client.Get("/queue?type=email&state=abandoned", {{"Cookie", cookie}});
  const std::string mark = "name=\"csrf\" value=\"";
  const size_t at = page.body.find(mark) + mark.size();
  const std::string csrf = page.body.substr(at, 32);
  HttpResponse retry = client.Post(
      "/job/retry", "csrf=" + csrf + "&domain=&type=email&id=" + std::to_string(claimed[0].claim.id),
      {{"Cookie", cookie}, {"Origin", base.substr(0, base.size() - 1)}});
  ASSERT_EQ(retry.status, 303u) << retry.body;

  const std::string after = Chromium(base, "--dump-dom");
  EXPECT_EQ(Cell(after, "queue:/email", "ready"), "3") << after;
  EXPECT_EQ(Cell(after, "queue:/email", "abandoned"), "1");
}

}  // namespace
}  // namespace jobstore::testing
