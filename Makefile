# sail build. `make` builds libsail.a, libsail.so, the sail CLI and the Redis
# module sail-redis.so (docs/REDIS.md).
#   make test     build and run every test; ends with "N passed, M failed"
#   make asan     the same suite under AddressSanitizer + UBSan
#   make bench    the benchmarks (figures go to docs/BENCHMARKS.md by hand)
#   make fuzz     every libFuzzer harness for FUZZ_SECONDS (default 60) each
#   make REF=1    force the plain C kernels (no SIMD dispatch)
#   make model    retrain the shipped default model (docs/MODEL.md)
#   make MPI=1    sail train and sail index add also run over mpirun (Open MPI;
#                 docs/TRAINING.md); builds in build-mpi unless BUILD is given
CC      ?= gcc
ifeq ($(MPI),1)
BUILD   ?= build-mpi
endif
BUILD   ?= build
OPT     ?= -O2
CFLAGS  ?=
WERROR  ?=
# sail data emoji: FreeType + HarfBuzz (glyphs), libxml2 (CLDR annotations);
# audio: FFTW3 double precision (fbank, log-mel)
PKGS       := freetype2 harfbuzz libxml-2.0 fftw3
# video and audio decoding: FFmpeg's libavformat, libavcodec, libswscale,
# libswresample, for their headers only: src/format/av.c loads the
# libraries at the first decode (they made every process start 60 ms late)
AV_PKGS    := libavformat libavcodec libswscale libavutil libswresample
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) $(AV_PKGS))
PKG_LIBS   := $(shell pkg-config --libs $(PKGS))
CPPFLAGS = -Iinclude -Isrc -Isrc/core -D_GNU_SOURCE $(PKG_CFLAGS)
BASEFLAGS = -std=c11 $(OPT) -g -Wall -Wextra -Wstrict-prototypes -Wno-unused-parameter -fPIC -pthread $(WERROR) $(CFLAGS)
ifeq ($(REF),1)
CPPFLAGS += -DSAIL_FORCE_REF
endif
LIBS = -ljansson -lzip -lutf8proc -ljpeg -lpng -lwebp -lz -lm -lpthread
LIBS += $(PKG_LIBS)
# SigLIP's SentencePiece tokenizer: libsentencepiece (C++) behind src/text/spm_shim.cc
LIBS += -lsentencepiece -lstdc++
CXX      ?= g++
CXXFLAGS ?=
SPM_CFLAGS := $(shell pkg-config --cflags sentencepiece 2>/dev/null)

# ISA-specific files carry their own flags; dispatch picks them at run time.
AVX512FLAGS = -mavx512f -mavx512bw -mavx512dq -mavx512vl -mfma -mf16c
AVX2FLAGS   = -mavx2 -mfma -mf16c
# The AVX-512 dot-product GEMMs and attention's bf16 products, each alone
# with its extension (dispatch.c runs them only where CPUID has it).
$(BUILD)/src/kernels/gemm_vnni_avx512.o: AVX512FLAGS += -mavx512vnni
$(BUILD)/src/kernels/gemm_amx_avx512.o: AVX512FLAGS += -mamx-tile -mamx-int8 -mamx-bf16 -mavx512bf16 -mavx512vbmi
$(BUILD)/src/kernels/gemm_bf16_avx512.o: AVX512FLAGS += -mavx512bf16
$(BUILD)/src/kernels/attn_bf16_avx512.o: AVX512FLAGS += -mavx512bf16

# src/server is the `sail serve` program (libmicrohttpd), not part of libsail.
# So are the speech and stamps generators of `sail data` (libespeak-ng is
# GPL-3+; libsox and librsvg/cairo are large): libsail does not use them,
# and the sail program loads them only when they run (src/core/dl.h), so
# their headers are all the build takes.
MEDIA_SRC  := src/data/sound.c src/data/speech.c src/data/stamps.c
MEDIA_PKGS := espeak-ng sox librsvg-2.0 cairo
MEDIA_OBJ  := $(MEDIA_SRC:%.c=$(BUILD)/%.o)
$(MEDIA_OBJ): CPPFLAGS += $(shell pkg-config --cflags $(MEDIA_PKGS))
LIB_SRC  := $(filter-out src/server/% src/redis/% $(MEDIA_SRC),$(sort $(shell find src -name '*.c')))
LIB_OBJ  := $(LIB_SRC:%.c=$(BUILD)/%.o)
LIB_CXX_SRC := $(sort $(shell find src -name '*.cc'))
LIB_OBJ  += $(LIB_CXX_SRC:%.cc=$(BUILD)/%.o)
CLI_SRC  := $(sort $(wildcard cli/*.c))
CLI_OBJ  := $(CLI_SRC:%.c=$(BUILD)/%.o)
# The CLI is a client of the public headers only (include/, and cli/ for its
# own, found beside the including file): it is compiled without -Isrc, so
# what it does, a C or Python user of libsail can do too;
# tests/test_cli_headers.py checks the #include lines.
CLI_RESTRICTED := $(CLI_OBJ)
$(CLI_RESTRICTED): CPPFLAGS = -Iinclude -D_GNU_SOURCE $(PKG_CFLAGS)
SERVER_SRC := $(sort $(wildcard src/server/*.c))
SERVER_OBJ := $(SERVER_SRC:%.c=$(BUILD)/%.o)
SERVER_LIBS = -lmicrohttpd
# MPI=1: the transport of data-parallel training, in the sail program only
# (libsail and the plain build never see MPI)
ifeq ($(MPI),1)
CLI_SRC  += cli/mpi/dist_mpi.c
CLI_OBJ  := $(CLI_SRC:%.c=$(BUILD)/%.o)
$(CLI_OBJ): CPPFLAGS += -DSAIL_MPI -Icli $(shell mpicc --showme:compile)
SERVER_LIBS += $(shell mpicc --showme:link)
ALL_SAIL := $(BUILD)/sail   # ./sail stays the plain build's
else
ALL_SAIL := sail
endif
# sail-redis.so: the Redis module (src/redis, docs/REDIS.md), loaded with
# redis-server --loadmodule. It links the index code from libsail.a (the
# linker takes only the objects it needs) and exports only its entry point.
REDIS_SRC := $(sort $(wildcard src/redis/*.c))
REDIS_OBJ := $(REDIS_SRC:%.c=$(BUILD)/%.o)
# redis:// indexes behind the public index calls (src/index/remote.c): they
# talk to Redis through hiredis when it is installed, else say it is missing.
# The module links libsail.a without them (it never opens a location), so
# --as-needed drops -lhiredis there.
ifneq ($(shell pkg-config --exists hiredis 2>/dev/null && echo yes),)
$(BUILD)/src/index/remote.o: CPPFLAGS += -DSAIL_HIREDIS
LIBS += -lhiredis
endif
TEST_SRC := $(sort $(wildcard tests/test_*.c))
TEST_BIN := $(TEST_SRC:tests/%.c=$(BUILD)/tests/%)
BENCH_SRC := $(sort $(wildcard bench/*.c))
BENCH_BIN := $(BENCH_SRC:bench/%.c=$(BUILD)/bench/%)

.PHONY: all test asan bench fuzz clean install-deps install tests-build model ears

all: $(BUILD)/libsail.a $(BUILD)/libsail.so $(ALL_SAIL) $(BUILD)/sail-redis.so

$(BUILD)/%_avx512.o: %_avx512.c
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(BASEFLAGS) $(AVX512FLAGS) -MMD -MP -c $< -o $@

$(BUILD)/%_avx2.o: %_avx2.c
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(BASEFLAGS) $(AVX2FLAGS) -MMD -MP -c $< -o $@

$(BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(BASEFLAGS) -MMD -MP -c $< -o $@

# C++ (the libsentencepiece shim): C's flags with C++17 for its header
$(BUILD)/%.o: %.cc
	@mkdir -p $(dir $@)
	$(CXX) $(CPPFLAGS) $(SPM_CFLAGS) $(filter-out -std=c11 -Wstrict-prototypes,$(BASEFLAGS)) -std=c++17 $(CXXFLAGS) -MMD -MP -c $< -o $@

$(BUILD)/libsail.a: $(LIB_OBJ)
	@rm -f $@
	ar rcs $@ $^

$(BUILD)/libsail.so: $(LIB_OBJ)
	$(CC) -shared $(BASEFLAGS) -o $@ $^ $(LIBS)

$(BUILD)/sail: $(CLI_OBJ) $(SERVER_OBJ) $(MEDIA_OBJ) $(BUILD)/libsail.a
	$(CC) $(BASEFLAGS) -o $@ $(CLI_OBJ) $(SERVER_OBJ) $(MEDIA_OBJ) $(BUILD)/libsail.a $(LIBS) $(SERVER_LIBS)

# The demo page is compiled into the server as bytes (od, no xxd needed).
$(BUILD)/gen/web_index.inc: src/server/web/index.html
	@mkdir -p $(dir $@)
	od -An -v -tx1 $< | sed 's/ \([0-9a-f][0-9a-f]\)/0x\1,/g' > $@.tmp && mv $@.tmp $@
$(BUILD)/src/server/routes_page.o: $(BUILD)/gen/web_index.inc
$(SERVER_OBJ): CPPFLAGS += -I$(BUILD)/gen

$(BUILD)/sail-redis.so: $(REDIS_OBJ) $(BUILD)/libsail.a src/redis/exports.map
	$(CC) -shared $(BASEFLAGS) -Wl,--version-script=src/redis/exports.map -Wl,--no-undefined -o $@ \
	    $(REDIS_OBJ) $(BUILD)/libsail.a -Wl,--as-needed $(LIBS)

# A new file renamed over the old one, so a running ./sail (a server, a
# training run) keeps its binary and the build does not fail on it.
sail: $(BUILD)/sail
	@cp $(BUILD)/sail sail.new && mv -f sail.new sail

$(BUILD)/tests/%: tests/%.c tests/test.h $(BUILD)/libsail.a
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(BASEFLAGS) -Itests -MMD -MP -o $@ $< $(BUILD)/libsail.a $(LIBS)

# test_faults_server drives the server's request handler in-process: it
# links the server's objects, and libmicrohttpd for the calls it does not
# replace itself
$(BUILD)/tests/test_faults_server: tests/test_faults_server.c tests/test.h $(SERVER_OBJ) $(BUILD)/libsail.a
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(BASEFLAGS) -Itests -MMD -MP -o $@ $< $(SERVER_OBJ) $(BUILD)/libsail.a $(LIBS) -lmicrohttpd

$(BUILD)/bench/%: bench/%.c $(BUILD)/libsail.a
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(BASEFLAGS) -MMD -MP -o $@ $< $(BUILD)/libsail.a $(LIBS) -lopenblas

# the Redis benchmark talks to redis-server through hiredis
$(BUILD)/bench/bench_redis: LIBS += -lhiredis

tests-build: all $(TEST_BIN)

test: tests-build
	@BUILD=$(BUILD) SAIL=$(BUILD)/sail sh tests/run.sh

# --assume-old=sail: the tests run build-asan/sail; copying it over ./sail
# would replace the user's binary (and fail with "Text file busy" while it runs)
asan:
	$(MAKE) --assume-old=sail BUILD=build-asan OPT=-O1 CFLAGS="-fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined" tests-build build-asan/sail
	@ASAN_OPTIONS=detect_leaks=1:abort_on_error=0 LSAN_OPTIONS=suppressions=$(CURDIR)/tests/lsan.supp \
	    BUILD=build-asan SAIL=build-asan/sail SAIL_ASAN=1 sh tests/run.sh

bench: all $(BENCH_BIN)
	@BUILD=$(BUILD) sh bench/run.sh

FUZZ_SECONDS ?= 60
fuzz:
	FUZZ_SECONDS=$(FUZZ_SECONDS) sh tests/fuzz/run.sh

# Retrain the shipped default model (models/sail-tiny.gguf); see docs/MODEL.md.
model: all
	sh scripts/make-model.sh

# Train an audio tower for the shipped model (build/ears/sail-tiny.gguf); resumable.
ears: all
	sh scripts/make-ears.sh

install-deps:
	sh scripts/install-deps.sh

# make install [PREFIX=/usr/local] [DESTDIR=]: the CLI, the libraries, the
# public headers, a pkg-config file and the shipped model.
PREFIX ?= /usr/local
INST = $(DESTDIR)$(PREFIX)
install: all
	install -d $(INST)/bin $(INST)/lib/pkgconfig $(INST)/include $(INST)/share/sail/models
	install -m 755 $(BUILD)/sail $(INST)/bin/sail
	install -m 644 $(BUILD)/libsail.a $(INST)/lib/libsail.a
	install -m 755 $(BUILD)/libsail.so $(INST)/lib/libsail.so
	install -m 755 $(BUILD)/sail-redis.so $(INST)/lib/sail-redis.so
	install -m 644 include/sail.h include/sail_apps.h include/sail_train.h $(INST)/include/
	install -m 644 models/sail-tiny.gguf $(INST)/share/sail/models/sail-tiny.gguf
	sed -e 's|@PREFIX@|$(PREFIX)|' -e 's|@VERSION@|$(shell sed -n 's/^#define SAIL_VERSION_STRING "\(.*\)"/\1/p' include/sail.h)|' \
	    -e 's|@LIBS@|$(LIBS)|' scripts/sail.pc.in > $(INST)/lib/pkgconfig/sail.pc

clean:
	rm -rf build build-asan build-fuzz build-mpi sail

-include $(LIB_OBJ:.o=.d) $(REDIS_OBJ:.o=.d) $(CLI_OBJ:.o=.d) $(SERVER_OBJ:.o=.d) $(MEDIA_OBJ:.o=.d)

# Test-only drivers used by the Python oracles (not run directly).
TOOL_SRC := $(sort $(wildcard tests/tools/*.c))
TOOL_BIN := $(TOOL_SRC:tests/tools/%.c=$(BUILD)/tools/%)
$(BUILD)/tools/%: tests/tools/%.c $(BUILD)/libsail.a
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(BASEFLAGS) -MMD -MP -o $@ $< $(BUILD)/libsail.a $(LIBS)
tests-build: $(TOOL_BIN)

# test, bench and tool programs depend on the shared headers in tests/ and bench/ too
-include $(TEST_BIN:=.d) $(BENCH_BIN:=.d) $(TOOL_BIN:=.d)
