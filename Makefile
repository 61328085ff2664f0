# ocppgw: one plain Makefile.
#
#   make            build build/ocppgw, the simulator and every test binary
#   make run        install what is missing, build the gateway and the simulator,
#                   start a private PostgreSQL under var/, migrate, print a
#                   dev API key, serve
#   make test       install what is missing, build with -Werror, run the unit
#                   tests, then the integration tests (own PostgreSQL)
#   make asan       the whole suite under AddressSanitizer + UBSan (build-asan/)
#   make tsan       the whole suite under ThreadSanitizer (build-tsan/)
#   make bench      the load generator against a fresh gateway (docs/benchmarks.md)
#   make install    binary, sql/ and the systemd units (PREFIX, DESTDIR)
#   make stop-db    stop the private PostgreSQL that `make run` started
#
# Sources are found by wildcard: a new file under src/X/ is part of layer X
# (see "layers" below for what it may use).

BUILD    ?= build
SAN      ?=
PREFIX   ?= /usr/local
DESTDIR  ?=

CC       ?= cc
PKGS     := libwebsockets libcjson libpq libcrypto libssl inih libsystemd libuv libcurl
TEST_PKG_CFLAGS := $(shell pkg-config --cflags cmocka libcurl 2>/dev/null)
TEST_PKG_LIBS   := $(shell pkg-config --libs cmocka libcurl 2>/dev/null)

WARN     := -Wall -Wextra -Wshadow -Wstrict-prototypes -Wmissing-prototypes \
            -Wpointer-arith -Wformat=2 -Wno-format-nonliteral -Werror
CFLAGS   ?= -O2 -g
CFLAGS   += -std=gnu11 $(WARN) -Iinclude -I$(BUILD)/gen -MMD -MP \
            -D_GNU_SOURCE -fno-strict-aliasing
LDLIBS   += -lpthread -lm

ifeq ($(SAN),asan)
CFLAGS   += -O1 -fsanitize=address,undefined,float-cast-overflow -fno-omit-frame-pointer \
            -fno-sanitize-recover=undefined,float-cast-overflow
LDFLAGS  += -fsanitize=address,undefined,float-cast-overflow
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
# The files that print the version are rebuilt when it changes (a commit,
# the tree turning dirty or clean): the stamp is rewritten only then.
VERSION_STAMP := $(BUILD)/version.stamp
$(shell mkdir -p $(BUILD) && (echo '$(VERSION)' | cmp -s - $(VERSION_STAMP) || echo '$(VERSION)' > $(VERSION_STAMP)))
$(BUILD)/src/glue/server_lws.o $(BUILD)/src/app/cli.o $(BUILD)/src/app/serve.o: $(VERSION_STAMP)

# ---------------------------------------------------------------- layers
# One static archive per folder of src/, and the graph of who may use whom.
# This table is the whole truth: the build compiles each folder with only
# its own libraries' headers on the include path, links the core's unit
# tests against libcore.a and its dependencies alone (no lws, libpq, cJSON),
# and `make check-layers` (part of `make test`) fails on any call, include
# or library use outside it. docs/architecture.md shows the same table
# (checked too). Dependencies are listed transitively closed.
LAYERS          := util model metrics embedded config core ocpp store rest webhook glue app
DEPS_util       :=
DEPS_model      := util
DEPS_metrics    := model util
DEPS_embedded   :=
DEPS_config     := util
DEPS_core       := metrics model util
DEPS_ocpp       := core metrics model util embedded
DEPS_store      := metrics model util embedded
DEPS_rest       := ocpp core metrics model util embedded
DEPS_webhook    := model util
DEPS_glue       := rest webhook store ocpp core config metrics model util embedded
DEPS_app        := glue rest webhook store ocpp core config metrics model util embedded
# external libraries (pkg-config names) each layer may call itself
EXT_util        := libcrypto
EXT_config      := inih
EXT_ocpp        := libcjson
EXT_store       := libpq libcrypto
EXT_rest        := libcjson libcrypto
EXT_webhook     := libcurl libpq libcjson libcrypto
EXT_glue        := libwebsockets libuv libssl libsystemd
EXT_app         :=
# the headers of include/ each layer owns (a folder's private headers are its own)
HDRS_util       := util.h hmap.h secret.h strbuf.h csr.h netaddr.h tz.h iso3166.h
HDRS_model      := ocpp_msg.h store_job.h store_export.h event_types.h pricing.h session_cost.h load_config.h
HDRS_metrics    := metrics.h
HDRS_embedded   := embedded.h
HDRS_config     := config.h
HDRS_core       := core.h load_alloc.h
HDRS_ocpp       := ocpp.h
HDRS_store      := store.h
HDRS_rest       := rest.h rest_body.h rest_export.h rest_cursor.h rest_live.h rest_query.h rest_res.h rest_transport.h
HDRS_webhook    := webhook.h
HDRS_glue       := gateway.h
# link order: every archive before the ones it uses
LINK_ORDER      := app glue rest webhook store ocpp core config metrics model embedded util

pc_cflags = $(if $(strip $(1)),$(shell pkg-config --cflags $(1) 2>/dev/null))
pc_libs   = $(if $(strip $(1)),$(shell pkg-config --libs $(1) 2>/dev/null))
# archives of a set of layers, in link order
archives  = $(foreach l,$(LINK_ORDER),$(if $(filter $(l),$(1)),$(BUILD)/lib/lib$(l).a))
# a layer, its dependencies, and the libraries all of them call
closure   = $(1) $(foreach l,$(1),$(DEPS_$(l)))
ext_libs  = $(call pc_libs,$(sort $(foreach l,$(call closure,$(1)),$(EXT_$(l)))))

# ---------------------------------------------------------------- sources
layer_src = $(wildcard src/$(1)/*.c)
# (libapp.a holds main.o too, so that the check sees it; the binary links main.o first)
$(foreach l,$(filter-out embedded,$(LAYERS)),$(eval OBJ_$(l) := $(patsubst %.c,$(BUILD)/%.o,$(call layer_src,$(l)))))
OBJ_embedded := $(BUILD)/gen/embedded.o
# each folder compiles with the headers of its own libraries only
$(foreach l,$(filter-out embedded,$(LAYERS)),$(eval $(BUILD)/src/$(l)/%.o: CFLAGS += $(call pc_cflags,$(EXT_$(l)))))
LIBS_ALL := $(call archives,$(LAYERS))
LDLIBS_ALL := $(call ext_libs,app)

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
# the layer a unit test exercises: it links that layer's closure and nothing
# else (the core's tests build without lws, libpq and cJSON); default: all
UNIT_LAYER_test_core          := core
UNIT_LAYER_test_core_commands := core
UNIT_LAYER_test_core_load     := core
UNIT_LAYER_test_load_alloc    := core
UNIT_LAYER_test_pricing       := model
UNIT_LAYER_test_load_config   := model
UNIT_LAYER_test_time          := util
UNIT_LAYER_test_csr           := util
UNIT_LAYER_test_log           := util
UNIT_LAYER_test_tz            := util
UNIT_LAYER_test_util          := config metrics
UNIT_LAYER_test_codec         := ocpp
UNIT_LAYER_test_rpc           := ocpp
UNIT_LAYER_test_schema        := ocpp
UNIT_LAYER_test_rest_body     := rest
UNIT_LAYER_test_rest_cursor   := rest
UNIT_LAYER_test_rest_query    := rest
UNIT_LAYER_test_rest_report   := rest
UNIT_LAYER_test_rest_lists    := rest
UNIT_LAYER_test_rest_events   := rest
UNIT_LAYER_test_rest_router   := rest
UNIT_LAYER_test_rest_ratelimit := rest
UNIT_LAYER_test_rest_dispatch := rest
UNIT_LAYER_test_rest_commands := rest
UNIT_LAYER_test_rest_export   := rest
UNIT_LAYER_test_fuzz_rest     := rest
UNIT_LAYER_test_openapi       := rest
UNIT_LAYER_test_stmt_cache    := store
UNIT_LAYER_test_webhook       := webhook
UNIT_LAYER_test_sim_profiles  := util
# objects of tests/sim/ a unit test links besides its layer (the simulator's pure parts)
UNIT_EXTRA_test_sim_profiles  := $(BUILD)/tests/sim/profiles.o
unit_layer = $(or $(UNIT_LAYER_$(1)),app)

IT_SUPPORT_SRC := $(wildcard tests/integration/support/*.c)
IT_SUPPORT_OBJ := $(IT_SUPPORT_SRC:%.c=$(BUILD)/%.o)
IT_SRC   := $(wildcard tests/integration/it_*.c)
IT_BIN   := $(IT_SRC:tests/integration/%.c=$(BUILD)/tests/%)

BIN      := $(BUILD)/ocppgw
SIM_BIN  := $(BUILD)/ocppsim

.PHONY: all deps run test unit integration check-layers asan tsan bench install stop-db clean fuzz
.DEFAULT_GOAL := all
# keep intermediate objects (test objects are built through a chain rule)
.SECONDARY:

all: $(BIN) $(SIM_BIN) $(UNIT_BIN) $(IT_BIN) $(BUILD)/webhook-receiver $(BUILD)/listen-hold \
     $(BUILD)/stormsim

# ---------------------------------------------------------------- build rules
$(BUILD)/tools/embed: tools/embed.c
	@mkdir -p $(dir $@)
	$(Q)$(CC) -std=gnu11 -O2 -Wall -Wextra -Werror -o $@ $<

# the webhook receiver of the benchmarks (scripts/webhook-bench.sh, bench.sh);
# its checks (tools/webhook_check.c) serve the integration tests' receiver too
WHCHECK_OBJ := $(BUILD)/tools/webhook_check.o
$(BUILD)/tools/%.o: CFLAGS += $(call pc_cflags,libcrypto)
$(BUILD)/webhook-receiver: $(BUILD)/tools/webhook_receiver.o $(WHCHECK_OBJ)
	@$(if $(V),,echo "  LD      $@")
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ $(call pc_libs,libcrypto)

# systemd's socket activation with Restart=always, for scripts/restart-bench.sh and by hand
$(BUILD)/listen-hold: tools/listen_hold.c
	@mkdir -p $(dir $@)
	$(Q)$(CC) -std=gnu11 -O2 -Wall -Wextra -Werror -o $@ $<

# the reconnect storm of scripts/restart-bench.sh without libwebsockets (plain sockets, epoll)
$(BUILD)/stormsim: tools/stormsim.c tests/sim/simopts.c tests/sim/simopts.h
	@mkdir -p $(dir $@)
	$(Q)$(CC) -std=gnu11 -O2 -Wall -Wextra -Werror -Itests/sim -o $@ tools/stormsim.c tests/sim/simopts.c

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

# tests and the simulator see every library's headers
$(BUILD)/tests/%.o: CFLAGS += $(call pc_cflags,$(PKGS)) $(TEST_PKG_CFLAGS) -Itests/sim -Itests/unit/support -Itests/integration/support -Itools

define layer_archive
$(BUILD)/lib/lib$(1).a: $$(OBJ_$(1))
	@mkdir -p $$(dir $$@)
	@rm -f $$@
	$$(Q)ar rcs $$@ $$^
endef
$(foreach l,$(LAYERS),$(eval $(call layer_archive,$(l))))

$(BUILD)/lib/libsim.a: $(SIM_OBJ)
	@mkdir -p $(dir $@)
	@rm -f $@
	$(Q)ar rcs $@ $^

$(BUILD)/lib/libunitsupport.a: $(UNIT_SUPPORT_OBJ)
	@mkdir -p $(dir $@)
	@rm -f $@
	$(Q)ar rcs $@ $^

$(BIN): $(BUILD)/src/app/main.o $(LIBS_ALL)
	@$(if $(V),,echo "  LD      $@")
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS_ALL) $(LDLIBS)

$(SIM_BIN): $(BUILD)/tests/sim/ocppsim.o $(BUILD)/lib/libsim.a $(LIBS_ALL)
	@$(if $(V),,echo "  LD      $@")
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS_ALL) $(LDLIBS)

# a unit test links the closure of its layer only
.SECONDEXPANSION:
$(BUILD)/tests/test_%: $(BUILD)/tests/unit/test_%.o $$(UNIT_EXTRA_test_$$*) $(BUILD)/lib/libunitsupport.a $$(call archives,$$(call closure,$$(call unit_layer,test_$$*)))
	@$(if $(V),,echo "  LD      $@")
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ $(call ext_libs,$(call unit_layer,test_$*)) $(LDLIBS) $(TEST_PKG_LIBS)

$(BUILD)/tests/it_%: $(BUILD)/tests/integration/it_%.o $(IT_SUPPORT_OBJ) $(WHCHECK_OBJ) $(BUILD)/lib/libsim.a $(LIBS_ALL)
	@$(if $(V),,echo "  LD      $@")
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS_ALL) $(LDLIBS) $(TEST_PKG_LIBS)

# a fuzz target links the closure of its layer only, like a unit test
FUZZ_SRC := $(wildcard tests/fuzz/fuzz_*.c)
FUZZ_TARGETS := $(FUZZ_SRC:tests/fuzz/%.c=%)
FUZZ_LAYER_fuzz_dispatch    := ocpp
FUZZ_LAYER_fuzz_rest        := rest
FUZZ_LAYER_fuzz_cursor      := rest
FUZZ_LAYER_fuzz_basic_auth  := util
FUZZ_LAYER_fuzz_config      := config
fuzz_layer = $(or $(FUZZ_LAYER_$(1)),app)
$(BUILD)/fuzz_%: $(BUILD)/tests/fuzz/fuzz_%.o $$(call archives,$$(call closure,$$(call fuzz_layer,fuzz_$$*)))
	@$(if $(V),,echo "  LD      $@")
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ $(call ext_libs,$(call fuzz_layer,fuzz_$*)) $(LDLIBS)

# The layer check (scripts/check-layers.sh): every archive's symbols, includes
# and libraries against the table above, and docs/architecture.md's copy of it.
export LAYERS LINK_ORDER $(foreach l,$(LAYERS),DEPS_$(l) EXT_$(l) HDRS_$(l))
check-layers: $(LIBS_ALL)
	@BUILD=$(BUILD) CC="$(CC)" LDFLAGS="$(LDFLAGS)" scripts/check-layers.sh

# ---------------------------------------------------------------- workflows
deps:
	@scripts/deps.sh

unit: $(UNIT_BIN)
	@scripts/run-unit.sh $(UNIT_BIN)

# OCPPGW_MAKE_TEST=1: a skipped test fails the run, and it_store refuses IT_STORE_FILTER
integration: $(BIN) $(SIM_BIN) $(IT_BIN)
	@BUILD=$(BUILD) OCPPGW_MAKE_TEST=1 scripts/run-integration.sh $(IT_BIN)

test: deps
	@$(MAKE) --no-print-directory all
	@$(MAKE) --no-print-directory check-layers
	@$(MAKE) --no-print-directory unit
	@$(MAKE) --no-print-directory integration

asan: deps
	@$(MAKE) --no-print-directory BUILD=build-asan SAN=asan all
	@ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	  OCPPGW_TEST_TIMEOUT=$${OCPPGW_TEST_TIMEOUT:-480} $(MAKE) --no-print-directory BUILD=build-asan SAN=asan unit integration

tsan: deps
	@$(MAKE) --no-print-directory BUILD=build-tsan SAN=tsan all
	@TSAN_OPTIONS=halt_on_error=1 \
	  OCPPGW_TEST_TIMEOUT=$${OCPPGW_TEST_TIMEOUT:-480} $(MAKE) --no-print-directory BUILD=build-tsan SAN=tsan unit integration

run: deps
	@$(MAKE) --no-print-directory $(BIN) $(SIM_BIN)
	@BUILD=$(BUILD) scripts/run.sh

bench: deps
	@$(MAKE) --no-print-directory all
	@BUILD=$(BUILD) scripts/bench.sh

# libFuzzer (clang), every target in tests/fuzz/ in turn, FUZZ_SECONDS each:
# OCPP frames through dispatch and the core, a REST request (path, query,
# headers, body), cursors, the chargers' Basic header, the config file.
# Seeds and what the runs found live in tests/fuzz/corpus/<target>/
# (committed; new finds are merged in with -merge=1). docs/fuzzing.md.
FUZZ_SECONDS ?= 60
fuzz:
	@$(MAKE) --no-print-directory BUILD=build-fuzz SAN=fuzz CC=clang $(FUZZ_TARGETS:%=build-fuzz/%)
	@BUILD=build-fuzz FUZZ_SECONDS=$(FUZZ_SECONDS) tests/fuzz/run.sh $(FUZZ_TARGETS)

stop-db:
	@scripts/pg.sh stop var/pg

install: $(BIN)
	install -D -m 0755 $(BIN) $(DESTDIR)$(PREFIX)/bin/ocppgw
	install -d $(DESTDIR)$(PREFIX)/share/ocppgw/sql
	install -m 0644 $(SQL) $(DESTDIR)$(PREFIX)/share/ocppgw/sql/
	install -D -m 0644 systemd/ocppgw.service $(DESTDIR)/lib/systemd/system/ocppgw.service
	install -D -m 0644 systemd/ocppgw.socket $(DESTDIR)/lib/systemd/system/ocppgw.socket
	install -D -m 0640 docs/ocppgw.conf.example $(DESTDIR)/etc/ocppgw/ocppgw.conf.example

clean:
	rm -rf build build-asan build-tsan build-fuzz

-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)
