// The served store in one process: a server over a store, clients over a unix socket.
#include <thread>

#include "served/served_fixture.h"

namespace jobstore::testing {
namespace {

TEST_F(ServedTest, PushClaimAckThroughTheServer) {
  Serve();
  auto client = Connect();
  ASSERT_TRUE(client);
  auto pushed = client->Push({Spec("email", "a"), Spec("email", "b")});
  ASSERT_TRUE(pushed.ok()) << pushed.status().ToString();
  EXPECT_EQ(pushed->pushed, 2u);
  auto claimed = client->Claim({"", "email"}, 10);
  ASSERT_TRUE(claimed.ok()) << claimed.status().ToString();
  ASSERT_EQ(claimed->size(), 2u);
  EXPECT_EQ((*claimed)[0].params, "a");
  EXPECT_TRUE(client->Ack((*claimed)[0].claim).ok());
  auto counts = owner_->Counts({"", "email"});
  ASSERT_TRUE(counts.ok());
  EXPECT_EQ(counts->claimed, 1u);
  EXPECT_EQ(client->capabilities().medium, "remote");
  EXPECT_TRUE(client->capabilities().shared);
}

}  // namespace
}  // namespace jobstore::testing
