# ocppgw: one plain Makefile.
#
#   make            build build/ocppgw, the simulator and every test binary
#   make run        install what is missing, build, start a private PostgreSQL
#                   under var/, migrate, print a dev API key, serve
#   make test       install what is missing, build with -Werror, run the unit
#                   tests, then the integration tests (own PostgreSQL)
#   make asan       the whole suite under AddressSanitizer + UBSan (build-asan/)
#   make tsan       the whole suite under ThreadSanitizer (build-tsan/)
#   make bench      the load generator against a fresh gateway (docs/benchmarks.md)
#   make install    binary, sql/ and the systemd unit (PREFIX, DESTDIR)
#   make stop-db    stop the private PostgreSQL that `make run` started
#
# Sources are found by wildcard: a new file under src/ is part of the build.

BUILD    ?= build
SAN      ?=
PREFIX   ?= /usr/local
DESTDIR  ?=

CC       ?= cc
PKGS     := libwebsockets libcjson libpq libcrypto inih libsystemd libuv
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   := $(shell pkg-config --libs $(PKGS) 2>/dev/null)
TEST_PKG_CFLAGS := $(shell pkg-config --cflags cmocka libcurl 2>/dev/null)
TEST_PKG_LIBS   := $(shell pkg-config --libs cmocka libcurl 2>/dev/null)

WARN     := -Wall -Wextra -Wshadow -Wstrict-prototypes -Wmissing-prototypes \
            -Wpointer-arith -Wformat=2 -Wno-format-nonliteral -Werror
CFLAGS   ?= -O2 -g
CFLAGS   += -std=gnu11 $(WARN) -Iinclude -I$(BUILD)/gen -MMD -MP \
            -D_GNU_SOURCE -fno-strict-aliasing $(PKG_CFLAGS)
LDLIBS   += $(PKG_LIBS) -lpthread -lm

ifeq ($(SAN),asan)
CFLAGS   += -O1 -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
LDFLAGS  += -fsanitize=address,undefined
endif
ifeq ($(SAN),fuzz)
CFLAGS   += -O1 -fsanitize=fuzzer-no-link,address,undefined -fno-omit-frame-pointer
LDFLAGS  += -fsanitize=fuzzer,address,undefined
endif
ifeq ($(SAN),tsan)
CFLAGS   += -O1 -fsanitize=thread -fno-omit-frame-pointer
LDFLAGS  += -fsanitize=thread
endif

VERSION  := $(shell git describe --always --dirty 2>/dev/null || echo unknown)
CFLAGS   += -DOCPPGW_VERSION='"0.1.0-$(VERSION)"'

# ---------------------------------------------------------------- sources
LIB_SRC  := $(filter-out src/main.c,$(wildcard src/*.c src/*/*.c))
LIB_OBJ  := $(LIB_SRC:%.c=$(BUILD)/%.o) $(BUILD)/gen/embedded.o
SQL      := $(sort $(wildcard sql/*.sql))
SCHEMAS  := src/ocpp/ocpp1_6.schemas.json
# served at GET /v1/openapi.json
APIDOCS  := docs/openapi.json

SIM_SRC  := $(filter-out tests/sim/ocppsim.c,$(wildcard tests/sim/*.c))
SIM_OBJ  := $(SIM_SRC:%.c=$(BUILD)/%.o)

UNIT_SUPPORT_SRC := $(wildcard tests/unit/support/*.c)
UNIT_SUPPORT_OBJ := $(UNIT_SUPPORT_SRC:%.c=$(BUILD)/%.o)
UNIT_SRC := $(wildcard tests/unit/test_*.c)
UNIT_BIN := $(UNIT_SRC:tests/unit/%.c=$(BUILD)/tests/%)

IT_SUPPORT_SRC := $(wildcard tests/integration/support/*.c)
IT_SUPPORT_OBJ := $(IT_SUPPORT_SRC:%.c=$(BUILD)/%.o)
IT_SRC   := $(wildcard tests/integration/it_*.c)
IT_BIN   := $(IT_SRC:tests/integration/%.c=$(BUILD)/tests/%)

BIN      := $(BUILD)/ocppgw
SIM_BIN  := $(BUILD)/ocppsim

.PHONY: all deps run test unit integration asan tsan bench install stop-db clean fuzz
.DEFAULT_GOAL := all
# keep intermediate objects (test objects are built through a chain rule)
.SECONDARY:

all: $(BIN) $(SIM_BIN) $(UNIT_BIN) $(IT_BIN)

# ---------------------------------------------------------------- build rules
$(BUILD)/tools/embed: tools/embed.c
	@mkdir -p $(dir $@)
	$(Q)$(CC) -std=gnu11 -O2 -Wall -Wextra -Werror -o $@ $<

# Schemas, migrations and the OpenAPI document are compiled into the binary: nothing to find at run time.
$(BUILD)/gen/embedded.c: $(BUILD)/tools/embed $(SCHEMAS) $(SQL) $(APIDOCS)
	@mkdir -p $(dir $@)
	$(Q)$(BUILD)/tools/embed $@ $(SCHEMAS) $(SQL) $(APIDOCS)

$(BUILD)/gen/embedded.o: $(BUILD)/gen/embedded.c
	$(Q)$(CC) $(CFLAGS) -Wno-missing-prototypes -c -o $@ $<

# V=1 shows the full commands
Q := $(if $(V),,@)

$(BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	@$(if $(V),,echo "  CC      $<")
	$(Q)$(CC) $(CFLAGS) -c -o $@ $<

$(BUILD)/tests/%.o: CFLAGS += $(TEST_PKG_CFLAGS) -Itests/sim -Itests/unit/support -Itests/integration/support

$(BUILD)/libocppgw.a: $(LIB_OBJ)
	@rm -f $@
	$(Q)ar rcs $@ $^

$(BUILD)/libsim.a: $(SIM_OBJ)
	@rm -f $@
	$(Q)ar rcs $@ $^

$(BIN): $(BUILD)/src/main.o $(BUILD)/libocppgw.a
	@$(if $(V),,echo "  LD      $@")
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(SIM_BIN): $(BUILD)/tests/sim/ocppsim.o $(BUILD)/libsim.a $(BUILD)/libocppgw.a
	@$(if $(V),,echo "  LD      $@")
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/tests/test_%: $(BUILD)/tests/unit/test_%.o $(UNIT_SUPPORT_OBJ) $(BUILD)/libocppgw.a
	@$(if $(V),,echo "  LD      $@")
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS) $(TEST_PKG_LIBS)

$(BUILD)/tests/it_%: $(BUILD)/tests/integration/it_%.o $(IT_SUPPORT_OBJ) $(BUILD)/libsim.a $(BUILD)/libocppgw.a
	@$(if $(V),,echo "  LD      $@")
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS) $(TEST_PKG_LIBS)

$(BUILD)/fuzz_dispatch: $(BUILD)/tests/fuzz/fuzz_dispatch.o $(BUILD)/libocppgw.a
	@$(if $(V),,echo "  LD      $@")
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

# ---------------------------------------------------------------- workflows
deps:
	@scripts/deps.sh

unit: $(UNIT_BIN)
	@scripts/run-unit.sh $(UNIT_BIN)

integration: $(BIN) $(SIM_BIN) $(IT_BIN)
	@BUILD=$(BUILD) scripts/run-integration.sh $(IT_BIN)

test: deps
	@$(MAKE) --no-print-directory all
	@$(MAKE) --no-print-directory unit
	@$(MAKE) --no-print-directory integration

asan: deps
	@$(MAKE) --no-print-directory BUILD=build-asan SAN=asan all
	@ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	  $(MAKE) --no-print-directory BUILD=build-asan SAN=asan unit integration

tsan: deps
	@$(MAKE) --no-print-directory BUILD=build-tsan SAN=tsan all
	@TSAN_OPTIONS=halt_on_error=1 \
	  $(MAKE) --no-print-directory BUILD=build-tsan SAN=tsan unit integration

run: deps
	@$(MAKE) --no-print-directory $(BIN)
	@BUILD=$(BUILD) scripts/run.sh

bench: deps
	@$(MAKE) --no-print-directory all
	@BUILD=$(BUILD) scripts/bench.sh

# libFuzzer on frame parsing + dispatch + core (clang). FUZZ_SECONDS to change the budget.
FUZZ_SECONDS ?= 60
fuzz:
	@$(MAKE) --no-print-directory BUILD=build-fuzz SAN=fuzz CC=clang build-fuzz/fuzz_dispatch
	@mkdir -p build-fuzz/corpus
	@for f in tests/fixtures/ocpp/*.req.json; do a=$$(basename $$f .req.json); \
	  printf '[2,"%s","%s",%s]' "$$a" "$$a" "$$(cat $$f)" > build-fuzz/corpus/$$a.frame; done
	./build-fuzz/fuzz_dispatch -max_total_time=$(FUZZ_SECONDS) -max_len=8192 build-fuzz/corpus

stop-db:
	@scripts/pg.sh stop var/pg

install: $(BIN)
	install -D -m 0755 $(BIN) $(DESTDIR)$(PREFIX)/bin/ocppgw
	install -d $(DESTDIR)$(PREFIX)/share/ocppgw/sql
	install -m 0644 $(SQL) $(DESTDIR)$(PREFIX)/share/ocppgw/sql/
	install -D -m 0644 systemd/ocppgw.service $(DESTDIR)/lib/systemd/system/ocppgw.service
	install -D -m 0640 docs/ocppgw.conf.example $(DESTDIR)/etc/ocppgw/ocppgw.conf.example

clean:
	rm -rf build build-asan build-tsan build-fuzz

-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)
