// JobQueueGroup: atomic mixed pushes routed to their queues, and pops from a random ready
// queue of the domain that honour the caller's type filter.

#include <gtest/gtest.h>

#include <set>

#include "jobs_fixture.h"
#include "jobstore/job_queue_group.h"

namespace jobstore::testing {
namespace {

class JobsGroup : public JobsFixture {
 protected:
  // Pops until nothing is ready; returns the types popped, in order.
  std::vector<std::string> Drain(JobQueueGroup& group, const PopFilter& filter = {}) {
    std::vector<std::string> types;
    for (;;) {
      auto job = group.Pop(filter);
      EXPECT_TRUE(job.ok()) << job.status().ToString();
      if (!job.ok() || !job->has_value()) return types;
      types.push_back((*job)->claim.queue.type);
      EXPECT_TRUE(store_->Ack((*job)->claim).ok());
    }
  }
};

TEST_F(JobsGroup, PushRoutesMixedTypesIntoTheGroupsDomain) {
  JobQueueGroup group(store_.get(), "wiki1");
  auto pushed = group.Push({{.type = "a", .params = "1"}, {.type = "b"}, {.type = "a"},
                            {.type = "c", .domain = "wiki1"}});
  ASSERT_TRUE(pushed.ok()) << pushed.status().ToString();
  EXPECT_EQ(pushed->pushed, 4u);
  EXPECT_EQ(Counts("a", "wiki1"), Ready(2));
  EXPECT_EQ(Counts("b", "wiki1"), Ready(1));
  EXPECT_EQ(Counts("c", "wiki1"), Ready(1));
  EXPECT_EQ(Counts("a"), QueueCounts{});
}

TEST_F(JobsGroup, PushToAnotherDomainIsRefusedWhole) {
  JobQueueGroup group(store_.get(), "wiki1");
  auto pushed = group.Push({{.type = "a"}, {.type = "b", .domain = "wiki2"}});
  EXPECT_TRUE(pushed.status().IsInvalidArgument());
  EXPECT_EQ(Counts("a", "wiki1"), QueueCounts{});
  EXPECT_EQ(Counts("b", "wiki2"), QueueCounts{});
}

TEST_F(JobsGroup, PushIsAtomicAcrossQueues) {
  JobQueueGroup group(store_.get(), "");
  // One invalid spec (a bad type name) fails the whole batch: no queue gets anything.
  auto pushed = group.Push({{.type = "a"}, {.type = "b"}, {.type = "bad name"}});
  EXPECT_FALSE(pushed.ok());
  EXPECT_EQ(Counts("a"), QueueCounts{});
  EXPECT_EQ(Counts("b"), QueueCounts{});
}

TEST_F(JobsGroup, PopTakesFromEveryReadyQueueOfItsDomainOnly) {
  JobQueueGroup group(store_.get(), "wiki1");
  ASSERT_TRUE(group.Push({{.type = "a"}, {.type = "b"}, {.type = "b"}}).ok());
  Push("a", 1, "", "wiki2");
  std::vector<std::string> types = Drain(group);
  EXPECT_EQ(std::multiset<std::string>(types.begin(), types.end()),
            (std::multiset<std::string>{"a", "b", "b"}));
  EXPECT_EQ(Counts("a", "wiki2"), Ready(1));
}

TEST_F(JobsGroup, PopHonoursTypesAndExclusions) {
  JobQueueGroup group(store_.get(), "");
  Push("a", 2);
  Push("b", 2);
  Push("c", 2);
  EXPECT_EQ(Drain(group, {.types = {"b"}}), (std::vector<std::string>{"b", "b"}));
  // Only excluded types hold jobs: nothing (MediaWiki's group pop case).
  EXPECT_TRUE(Drain(group, {.types = {"a", "b"}, .exclude = {"a"}}).empty());
  EXPECT_EQ(Drain(group, {.exclude = {"a"}}), (std::vector<std::string>{"c", "c"}));
  EXPECT_EQ(Counts("a"), Ready(2));
}

TEST_F(JobsGroup, GroupWithoutDomainPopsFromAllDomains) {
  Push("a", 1, "", "x");
  Push("a", 1, "", "y");
  JobQueueGroup all(store_.get(), std::nullopt);
  EXPECT_EQ(Drain(all).size(), 2u);
  // And it pushes specs to the domains they name.
  ASSERT_TRUE(all.Push({{.type = "a", .domain = "z"}}).ok());
  EXPECT_EQ(Counts("a", "z"), Ready(1));
}

TEST_F(JobsGroup, PopPicksQueuesUniformlyNotByLength) {
  // 1 job in "small", 200 in "big": a uniform pick over ready queues takes "small" with
  // probability 1/2 per pop; by length it would be 1/201. 20 pops miss it with p = 2^-20.
  Push("small", 1);
  Push("big", 200);
  JobQueueGroup group(store_.get(), "");
  bool took_small = false;
  for (int i = 0; i < 20 && !took_small; ++i) {
    auto job = group.Pop();
    ASSERT_TRUE(job.ok() && job->has_value());
    took_small = (*job)->claim.queue.type == "small";
  }
  EXPECT_TRUE(took_small);
}

TEST_F(JobsGroup, PopOnAReadOnlyStoreFails) {
  Push("a", 1);
  store_->SetReadOnly(true);
  JobQueueGroup group(store_.get(), "");
  EXPECT_TRUE(group.Pop().status().IsReadOnly());
  EXPECT_TRUE(group.Push({{.type = "a"}}).status().IsReadOnly());
}

}  // namespace
}  // namespace jobstore::testing
