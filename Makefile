# SPDX-License-Identifier: Apache-2.0
#
# One Makefile for the BPF objects, their skeletons, the agentwatch binary, tools and tests.
# Out of tree into build/, quiet unless V=1, -MMD -MP on both compilers so that a change to a
# shared header in include/agentwatch/ rebuilds the BPF objects, their skeletons and the C files.
#
# Sources are found by convention, so adding a feature needs no edit here:
#   bpf/<stem>.bpf.c     -> build/bpf/<stem>.bpf.o -> build/skel/<stem>.skel.h (skeleton aw_<stem>)
#   user/*.c             -> build/agentwatch (user/main.c holds main(); the rest is libagentwatch.a)
#   tools/<name>.c       -> build/agentwatch-<name> (linked with libagentwatch.a)
#   tests/unit/test_*.c  -> build/tests/unit/test_* (cmocka, linked with libagentwatch.a)

.DELETE_ON_ERROR:
# Keep objects that pattern chains would otherwise delete as intermediate.
.SECONDARY:
.SUFFIXES:
MAKEFLAGS += --no-builtin-rules

BUILD   ?= build
PREFIX  ?= /usr/local
VERSION := $(shell cat VERSION)
ARCH    := $(shell uname -m | sed -e 's/x86_64/x86/' -e 's/aarch64/arm64/')

ifeq ($(V),1)
Q :=
msg = @true
else
Q := @
msg = @printf '  %-8s %s\n' "$(1)" "$(2)";
endif

CLANG   ?= clang
CC      ?= cc
BPFTOOL ?= $(shell command -v bpftool 2>/dev/null || echo /usr/sbin/bpftool)

# Libraries the binary links; recursively expanded so pkg-config runs only after the
# dependency installer (a prerequisite of every compile) has run.
PKGS     := libbpf libelf zlib json-c yaml-0.1 rdkafka libmicrohttpd ncursesw cmocka
PKG_CFLAGS = $(shell pkg-config --cflags $(filter-out cmocka,$(PKGS)))
PKG_LIBS   = $(shell pkg-config --libs $(filter-out cmocka,$(PKGS)))

CFLAGS ?= -O2 -g
override CFLAGS += -std=gnu11 -D_GNU_SOURCE -Wall -Wextra -Werror -Wno-unused-parameter \
	-Wmissing-prototypes -Wstrict-prototypes -fno-strict-aliasing \
	-DAW_VERSION='"$(VERSION)"' -Iinclude -iquote user -iquote $(BUILD)/skel -iquote $(BUILD)/gen
BPF_CFLAGS := -g -O2 -target bpf -mcpu=v3 -D__TARGET_ARCH_$(ARCH) -Wall -Werror \
	-Wno-unused-function -Iinclude -Ibpf -Ivmlinux/$(ARCH)

BPF_SRCS   := $(wildcard bpf/*.bpf.c)
BPF_OBJS   := $(patsubst bpf/%.bpf.c,$(BUILD)/bpf/%.bpf.o,$(BPF_SRCS))
SKELS      := $(patsubst bpf/%.bpf.c,$(BUILD)/skel/%.skel.h,$(BPF_SRCS))
USER_SRCS  := $(wildcard user/*.c)
USER_OBJS  := $(patsubst user/%.c,$(BUILD)/user/%.o,$(USER_SRCS))
LIB_OBJS   := $(filter-out $(BUILD)/user/main.o,$(USER_OBJS))
LIB        := $(BUILD)/libagentwatch.a
TOOL_SRCS  := $(wildcard tools/*.c)
TOOLS      := $(patsubst tools/%.c,$(BUILD)/agentwatch-%,$(TOOL_SRCS))
UNIT_SRCS  := $(wildcard tests/unit/test_*.c)
UNIT_BINS  := $(patsubst tests/unit/%.c,$(BUILD)/tests/unit/%,$(UNIT_SRCS))
DEPS_STAMP := $(BUILD)/.deps-installed
# Syscall names come from the uapi header of the build machine's libc, never retyped.
UNISTD_H   := $(firstword $(wildcard /usr/include/$(shell uname -m)-linux-gnu/asm/unistd_64.h \
		/usr/include/asm/unistd_64.h))
GEN_HDRS   := $(BUILD)/gen/syscall_names.h
FORMAT_SRCS = $(shell git ls-files '*.c' '*.h' ':!vmlinux' 2>/dev/null)

.PHONY: all test test-unit test-host test-vm bench eval demo install format format-check clean deps

all: $(BUILD)/agentwatch $(TOOLS)

# A fresh machine gets its build dependencies from tools/install-deps.sh, once.
$(DEPS_STAMP): tools/install-deps.sh
	$(call msg,DEPS,build)
	$(Q)mkdir -p $(@D) && tools/install-deps.sh build && touch $@
deps: $(DEPS_STAMP)

$(BUILD)/bpf/%.bpf.o: bpf/%.bpf.c | $(DEPS_STAMP)
	$(call msg,BPF,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CLANG) $(BPF_CFLAGS) -MMD -MP -MF $(@:.o=.d) -MT $@ -c $< -o $@.tmp
	$(Q)$(BPFTOOL) gen object $@ $@.tmp && rm -f $@.tmp

$(BUILD)/skel/%.skel.h: $(BUILD)/bpf/%.bpf.o
	$(call msg,GEN-SKEL,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(BPFTOOL) gen skeleton $< name aw_$(subst -,_,$*) > $@

$(BUILD)/gen/syscall_names.h: $(UNISTD_H) | $(DEPS_STAMP)
	$(call msg,GEN,$@)
	$(Q)mkdir -p $(@D)
	$(Q)awk '/^#define __NR_[a-z0-9_]+ [0-9]+$$/ { sub("__NR_", "", $$2); \
		printf "\t[%d] = \"%s\",\n", $$3, $$2 }' $< > $@

# Every C object may include any skeleton or generated header; the first build orders them,
# -MMD tracks them after.
$(BUILD)/user/%.o: user/%.c | $(SKELS) $(GEN_HDRS) $(DEPS_STAMP)
	$(call msg,CC,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) $(CFLAGS) $(PKG_CFLAGS) -MMD -MP -c $< -o $@

$(LIB): $(LIB_OBJS)
	$(call msg,AR,$@)
	$(Q)rm -f $@ && ar rcs $@ $^

$(BUILD)/agentwatch: $(BUILD)/user/main.o $(LIB)
	$(call msg,LINK,$@)
	$(Q)$(CC) $(LDFLAGS) $^ $(PKG_LIBS) -lpthread -o $@

$(BUILD)/tools/%.o: tools/%.c | $(SKELS) $(GEN_HDRS) $(DEPS_STAMP)
	$(call msg,CC,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) $(CFLAGS) $(PKG_CFLAGS) -MMD -MP -c $< -o $@

$(BUILD)/agentwatch-%: $(BUILD)/tools/%.o $(LIB)
	$(call msg,LINK,$@)
	$(Q)$(CC) $(LDFLAGS) $^ $(PKG_LIBS) -lpthread -o $@

$(BUILD)/tests/unit/%.o: tests/unit/%.c | $(SKELS) $(GEN_HDRS) $(DEPS_STAMP)
	$(call msg,CC,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) $(CFLAGS) $(PKG_CFLAGS) -iquote tests/unit -MMD -MP -c $< -o $@

$(BUILD)/tests/unit/%: $(BUILD)/tests/unit/%.o $(LIB)
	$(call msg,LINK,$@)
	$(Q)$(CC) $(LDFLAGS) $^ $(PKG_LIBS) -lcmocka -lpthread -o $@

# --- tests ------------------------------------------------------------------------------
# Each tier prints PASS/FAIL/SKIP lines and "<tier>: N passed, N failed, N skipped";
# tests/run-tier.sh adds them up. A tier the machine cannot run is reported as skipped.
test: all $(UNIT_BINS)
	$(Q)tools/install-deps.sh test
	$(Q)tests/run-tier.sh unit host vm

test-unit: $(UNIT_BINS)
	$(Q)tests/run-tier.sh unit

test-host: all
	$(Q)tests/run-tier.sh host

test-vm: all
	$(Q)tools/install-deps.sh test
	$(Q)tests/run-tier.sh vm

bench: all
	$(Q)tests/bench/run.sh

eval: all
	$(Q)tools/eval.sh

demo: all
	$(Q)tools/demo.sh

install: all
	install -D -m 0755 $(BUILD)/agentwatch $(DESTDIR)$(PREFIX)/bin/agentwatch
	install -d $(DESTDIR)/etc/agentwatch/rules
	$(if $(wildcard rules/*.yaml),install -m 0644 rules/*.yaml $(DESTDIR)/etc/agentwatch/rules/)

format:
	clang-format -i $(FORMAT_SRCS)

format-check: | $(DEPS_STAMP)
	$(call msg,FORMAT,check)
	$(Q)clang-format --dry-run --Werror $(FORMAT_SRCS)

clean:
	rm -rf $(BUILD)

-include $(wildcard $(BUILD)/bpf/*.d $(BUILD)/user/*.d $(BUILD)/tools/*.d $(BUILD)/tests/unit/*.d)
