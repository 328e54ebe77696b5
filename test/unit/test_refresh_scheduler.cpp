// GoogleTest for core::refresh_scheduler: the debounce rule (quiet time after the last
// change, bounded by max_delay; README "Materialized views, refreshed in the
// background"), backoff after failures, the sleep computation and the order of
// dependent views. Time is passed in.
#include <gtest/gtest.h>

#include "core/refresh_scheduler.hpp"

using namespace denorm::core;

namespace {
ViewTiming pending(Micros first, Micros last, Micros debounce = kSecond, Micros max_delay = 5 * kSecond)
{
    ViewTiming v;
    v.first_change = first;
    v.last_change = last;
    v.debounce = debounce;
    v.max_delay = max_delay;
    return v;
}
}  // namespace

TEST(Debounce, NothingPendingIsNeverDue)
{
    ViewTiming v;
    EXPECT_FALSE(refresh_due_at(v));
    EXPECT_FALSE(refresh_is_due(v, 1000 * kSecond));
}

TEST(Debounce, DueOnceQuietForDebounce)
{
    auto v = pending(10 * kSecond, 10 * kSecond);
    EXPECT_FALSE(refresh_is_due(v, 10 * kSecond + kSecond - 1));
    EXPECT_TRUE(refresh_is_due(v, 11 * kSecond));
}

TEST(Debounce, EachChangePushesTheRefreshBack)
{
    auto v = pending(10 * kSecond, 12 * kSecond);
    EXPECT_EQ(*refresh_due_at(v), 13 * kSecond);
}

TEST(Debounce, MaxDelayBoundsAStreamOfChanges)
{
    // Changes every half second for ever: due at first + max_delay regardless.
    auto v = pending(10 * kSecond, 14 * kSecond + kSecond / 2);
    EXPECT_EQ(*refresh_due_at(v), 15 * kSecond);
    EXPECT_TRUE(refresh_is_due(v, 15 * kSecond));
}

TEST(Debounce, ZeroDebounceIsDueAtOnce)
{
    auto v = pending(10 * kSecond, 10 * kSecond, 0, 0);
    EXPECT_TRUE(refresh_is_due(v, 10 * kSecond));
}

TEST(Debounce, ClockBehindTheChangesIsNotDueYet)
{
    // A clock that jumped back: due times are absolute, so it simply waits.
    auto v = pending(100 * kSecond, 100 * kSecond);
    EXPECT_FALSE(refresh_is_due(v, 50 * kSecond));
    EXPECT_EQ(sleep_until_next({v}, 50 * kSecond, 1000 * kSecond), 51 * kSecond);
}

TEST(Backoff, DoublesFromOneSecondToFiveMinutes)
{
    EXPECT_EQ(failure_backoff(0), 0);
    EXPECT_EQ(failure_backoff(1), 1 * kSecond);
    EXPECT_EQ(failure_backoff(2), 2 * kSecond);
    EXPECT_EQ(failure_backoff(5), 16 * kSecond);
    EXPECT_EQ(failure_backoff(9), 256 * kSecond);
    EXPECT_EQ(failure_backoff(10), 300 * kSecond);
    EXPECT_EQ(failure_backoff(1000), 300 * kSecond);
}

TEST(Backoff, AFailedViewWaitsForItsNextAttempt)
{
    auto v = pending(10 * kSecond, 10 * kSecond);
    v.consecutive_failures = 3;
    v.next_attempt = 30 * kSecond;
    EXPECT_FALSE(refresh_is_due(v, 29 * kSecond));
    EXPECT_TRUE(refresh_is_due(v, 30 * kSecond));
}

TEST(Sleep, UntilTheEarliestDueViewCappedByNaptime)
{
    std::vector<ViewTiming> views{pending(10 * kSecond, 10 * kSecond), pending(10 * kSecond, 10 * kSecond, 3 * kSecond), ViewTiming{}};
    EXPECT_EQ(sleep_until_next(views, 10 * kSecond, 5 * kSecond), kSecond);
    EXPECT_EQ(sleep_until_next(views, 10 * kSecond, kSecond / 2), kSecond / 2);
    EXPECT_EQ(sleep_until_next(views, 20 * kSecond, 5 * kSecond), 0);
    EXPECT_EQ(sleep_until_next({}, 0, 7), 7);
}

TEST(Order, ViewsComeAfterWhatTheyRead)
{
    // 0 reads 2, 2 reads 1: 1, 2, 0.
    auto order = refresh_order({{2}, {}, {1}});
    ASSERT_TRUE(order);
    EXPECT_EQ(*order, (std::vector<int>{1, 2, 0}));
}

TEST(Order, IndependentViewsKeepTheirOrder)
{
    auto order = refresh_order({{}, {}, {}});
    ASSERT_TRUE(order);
    EXPECT_EQ(*order, (std::vector<int>{0, 1, 2}));
}

TEST(Order, DiamondIsOrderedOnce)
{
    // 3 reads 1 and 2, both read 0.
    auto order = refresh_order({{}, {0}, {0}, {1, 2}});
    ASSERT_TRUE(order);
    EXPECT_EQ(*order, (std::vector<int>{0, 1, 2, 3}));
}

TEST(Order, CycleIsReported)
{
    EXPECT_FALSE(refresh_order({{1}, {0}}));
    EXPECT_FALSE(refresh_order({{0}}));
}
