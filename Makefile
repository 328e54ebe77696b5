# denorm: PGXS build of the extension. `make`/`make install` are the plain PGXS
# targets; `make demo` and `make test` (scripts/) set up a throwaway cluster.

EXTENSION   = denorm
MODULE_big  = denorm
CORE_SRCS   = $(sort $(wildcard src/core/*.cpp))
PG_SRCS     = $(sort $(wildcard src/pg/*.cpp))
OBJS        = $(CORE_SRCS:.cpp=.o) $(PG_SRCS:.cpp=.o)
DATA        = $(sort $(wildcard src/sql/denorm--*.sql))

PG_CPPFLAGS = -I$(srcdir)/src
# -MMD -MP: each object lists the headers it read (src/**/*.d, included below), so a
# changed struct in a header rebuilds every object that lays it out.
PG_CXXFLAGS = -std=c++17 -Wno-register -Wall -Wextra -Werror -Wno-unused-parameter -Wno-missing-field-initializers \
              -MMD -MP
SHLIB_LINK += -lstdc++

REGRESS     = $(sort $(patsubst sql/%.sql,%,$(wildcard sql/*.sql)))

PG_CONFIG ?= pg_config
PGXS := $(shell $(PG_CONFIG) --pgxs)
include $(PGXS)

# Makefile.global assigns BITCODE_CXXFLAGS with '=', so this must follow the include.
BITCODE_CXXFLAGS += -std=c++17 -Wno-register

-include $(OBJS:.o=.d)
EXTRA_CLEAN += $(OBJS:.o=.d)

# ---------------------------------------------------------------------------------------
# Harness targets (scripts/). They drive throwaway clusters as the postgres OS user;
# `make`/`make install` above stay plain PGXS.
.PHONY: test unit demo demo-stop

test:
	bash scripts/test.sh

unit:
	cmake -S . -B build -DCMAKE_BUILD_TYPE=Debug
	cmake --build build -j2
	cd build && ctest --output-on-failure

demo:
	bash scripts/demo.sh

demo-stop:
	bash scripts/demo-stop.sh
