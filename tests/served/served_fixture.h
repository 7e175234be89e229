// What the served-store tests share: a store served in this process on a unix socket in a
// temp directory, and clients connected to it.
#pragma once

#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "jobstore/serve.h"
#include "jobstore/store.h"
#include "support/temp_dir.h"

namespace jobstore::testing {

class ServedTest : public ::testing::Test {
 protected:
  void SetUp() override {
    clock_ = std::make_shared<ManualClock>(1'700'000'000'000);
    options_.clock = clock_;
    options_.durability = Durability::kProcessCrash;
  }
  void TearDown() override {
    server_.reset();
    owner_.reset();
  }

  // Opens `address` (default: memory:) as the owner and serves it with `serve` (the listener
  // defaults to a unix socket in the temp directory).
  void Serve(const std::string& address = "memory:served", ServeOptions serve = {}) {
    server_.reset();
    owner_.reset();
    auto opened = Store::Open(address, options_);
    ASSERT_TRUE(opened.ok()) << opened.status().ToString();
    owner_ = std::move(opened).value();
    if (serve.listen.empty()) serve.listen = {"unix:" + dir_.Sub("s.sock")};
    if (!serve.log) {
      serve.log = [this](const std::string& line) {
        std::lock_guard<std::mutex> l(log_mu_);
        log_.push_back(line);
      };
    }
    auto started = StoreServer::Start(owner_.get(), serve);
    ASSERT_TRUE(started.ok()) << started.status().ToString();
    server_ = std::move(started).value();
  }

  std::string Address() const { return server_->addresses().at(0); }

  std::unique_ptr<Store> Connect(Options options = {}) {
    auto c = Store::Open(Address(), options);
    EXPECT_TRUE(c.ok()) << c.status().ToString();
    return c.ok() ? std::move(c).value() : nullptr;
  }

  std::vector<std::string> Log() {
    std::lock_guard<std::mutex> l(log_mu_);
    return log_;
  }
  bool Logged(const std::string& needle) {
    for (const std::string& line : Log()) {
      if (line.find(needle) != std::string::npos) return true;
    }
    return false;
  }

  static JobSpec Spec(const std::string& type, const std::string& params) {
    JobSpec j;
    j.type = type;
    j.params = params;
    return j;
  }

  TempDir dir_;
  std::shared_ptr<ManualClock> clock_;
  Options options_;
  std::unique_ptr<Store> owner_;
  std::unique_ptr<StoreServer> server_;
  std::mutex log_mu_;
  std::vector<std::string> log_;
};

}  // namespace jobstore::testing
