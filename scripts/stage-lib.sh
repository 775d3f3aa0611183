# shellcheck shell=sh
# Sourced by make-model.sh and make-ears.sh.
# resume_from DIR: prints "--resume DIR" when DIR holds a training
# checkpoint; otherwise clears DIR, so a fresh stage never meets files of an
# older one.
resume_from() {
    if [ -f "$1/checkpoint.gguf" ]; then echo "--resume $1"; else rm -rf "${1:?}"; fi
}
