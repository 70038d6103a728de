# troupe: the README's commands. Everything installs what is missing first.
BUILD ?= build
JOBS ?= $(shell nproc)
CMAKE_FLAGS ?= -DCMAKE_BUILD_TYPE=Release

.PHONY: all deps build demo test bench clean

all: build

deps:
	@scripts/install-deps

$(BUILD)/CMakeCache.txt: | deps
	cmake -S . -B $(BUILD) $(CMAKE_FLAGS)

build: deps $(BUILD)/CMakeCache.txt
	cmake --build $(BUILD) -j $(JOBS)

# The main job on bundled data (see README).
demo: build
	$(BUILD)/examples/train_letters --data data/letter_recognition.csv

test: build
	cd $(BUILD) && ctest --output-on-failure -j $(JOBS) --timeout 600

bench: deps
	@scripts/install-deps --bench
	$(MAKE) build
	bench/run_all.sh $(BUILD)

clean:
	rm -rf $(BUILD)
