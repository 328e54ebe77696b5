// GoogleTest for core::ApplyOrder: rows are written in one global order whatever
// the definitions and the arrival order, so concurrent statements cannot deadlock.
#include <gtest/gtest.h>

#include "core/apply_order.hpp"

using denorm::core::ApplyOrder;

TEST(ApplyOrder, EmptyHasNothing)
{
    ApplyOrder<int> order;
    order.sort();
    EXPECT_EQ(order.size(), 0u);
}

TEST(ApplyOrder, RowsFirstThenDefinitions)
{
    // Two definitions writing the same two rows (a conversation's two directions):
    // both rows are visited in row order, the definitions of one row together.
    int a1 = 1, a2 = 2, b1 = 3, b2 = 4;
    ApplyOrder<int> order;
    order.add("row2", 0, &a2);
    order.add("row1", 0, &a1);
    order.add("row1", 1, &b1);
    order.add("row2", 1, &b2);
    order.sort();
    ASSERT_EQ(order.size(), 4u);
    EXPECT_EQ(order.at(0).item, &a1);
    EXPECT_EQ(order.at(1).item, &b1);
    EXPECT_EQ(order.at(2).item, &a2);
    EXPECT_EQ(order.at(3).item, &b2);
}

TEST(ApplyOrder, SameOrderWhateverTheArrival)
{
    int x = 0;
    ApplyOrder<int> one, two;
    const char *rows[] = {"c", "a", "b"};
    for (int i = 0; i < 3; i++) one.add(rows[i], i % 2, &x);
    for (int i = 2; i >= 0; i--) two.add(rows[i], i % 2, &x);
    one.sort();
    two.sort();
    for (size_t i = 0; i < 3; i++) {
        EXPECT_EQ(one.at(i).row, two.at(i).row);
        EXPECT_EQ(one.at(i).definition, two.at(i).definition);
    }
}

TEST(ApplyOrder, ClearEmpties)
{
    int x = 0;
    ApplyOrder<int> order;
    order.add("r", 0, &x);
    order.clear();
    EXPECT_EQ(order.size(), 0u);
}
