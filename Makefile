# denorm: PGXS build of the extension. `make`/`make install` are the plain PGXS
# targets; `make demo` and `make test` (scripts/) set up a throwaway cluster.

EXTENSION   = denorm
MODULE_big  = denorm
CORE_SRCS   = $(sort $(wildcard src/core/*.cpp))
PG_SRCS     = $(sort $(wildcard src/pg/*.cpp src/pg/*/*.cpp))
REDIS_SRCS  = $(sort $(wildcard src/redis/*.cpp))
OBJS        = $(CORE_SRCS:.cpp=.o) $(REDIS_SRCS:.cpp=.o) $(PG_SRCS:.cpp=.o)
# The version lives in denorm.control only. The install script of this version is
# built from the parts in src/sql/install (one per subsystem, in file-name order);
# released versions' install scripts and the upgrade scripts between versions are
# shipped as they are (src/sql/released, src/sql/updates).
EXTVERSION  = $(shell sed -n "s/^default_version *= *'\(.*\)'/\1/p" $(srcdir)/denorm.control)
INSTALL_PARTS = $(sort $(wildcard $(srcdir)/src/sql/install/*.sql))
DATA_built  = denorm--$(EXTVERSION).sql
DATA        = $(sort $(wildcard src/sql/released/denorm--*.sql) $(wildcard src/sql/updates/denorm--*--*.sql))

PG_CPPFLAGS = -I$(srcdir)/src
# -MMD -MP: each object lists the headers it read (src/**/*.d, included below), so a
# changed struct in a header rebuilds every object that lays it out.
PG_CXXFLAGS = -std=c++17 -Wno-register -Wall -Wextra -Werror -Wno-unused-parameter -Wno-missing-field-initializers \
              -MMD -MP
SHLIB_LINK += -lstdc++ -lhiredis

# `make installcheck` runs these three suites against the running server (PGHOST,
# PGPORT...; it must preload denorm: shared_preload_libraries = 'denorm'), as in other
# PGXS extensions; `make prove_installcheck` runs the TAP tests alone, each on its own
# throwaway cluster. `make test` does all of that on throwaway clusters of its own.
REGRESS     = $(sort $(patsubst sql/%.sql,%,$(wildcard sql/*.sql)))
ISOLATION   = $(sort $(patsubst test/isolation/specs/%.spec,%,$(wildcard test/isolation/specs/*.spec)))
ISOLATION_OPTS = --inputdir=test/isolation --outputdir=output_iso --load-extension=pg_trgm --load-extension=denorm
TAP_TESTS   = 1
PROVE_TESTS = $(sort $(wildcard test/t/*.pl))
PROVE_FLAGS = -I test

PG_CONFIG ?= pg_config
PGXS := $(shell $(PG_CONFIG) --pgxs)
include $(PGXS)

# TAP clusters preload denorm (PostgreSQL::Test::Cluster appends TEMP_CONFIG).
prove_installcheck installcheck: export TEMP_CONFIG = $(abspath test/denorm.conf)
.PHONY: prove_installcheck
prove_installcheck:
	$(prove_installcheck)

# Makefile.global assigns BITCODE_CXXFLAGS with '=', so this must follow the include.
BITCODE_CXXFLAGS += -std=c++17 -Wno-register

denorm--$(EXTVERSION).sql: $(INSTALL_PARTS) denorm.control
	awk 'FNR == 1 && NR > 1 { print "" } { print }' $(INSTALL_PARTS) > $@

-include $(OBJS:.o=.d)
EXTRA_CLEAN += $(OBJS:.o=.d)

# ---------------------------------------------------------------------------------------
# Harness targets (scripts/). They drive throwaway clusters as the postgres OS user;
# `make`/`make install` above stay plain PGXS.
.PHONY: test unit demo demo-stop platform-data

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

# The discovery platform example's tables and data in the database the PG* variables name
# (not a throwaway cluster): `make platform-data SCALE=1` (examples/discovery_platform).
platform-data:
	SCALE=$(or $(SCALE),1) bash scripts/platform-data.sh
