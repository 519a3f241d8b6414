#!/bin/sh
# The benchmarks' objective: sleeps $SLEEP seconds (0.1 by default), then
# prints a value of its two parameters (--x=..., --y=...).
x=0
y=0
for arg in "$@"; do
    case "$arg" in
        --x=*) x="${arg#--x=}" ;;
        --y=*) y="${arg#--y=}" ;;
    esac
done
sleep "${SLEEP:-0.1}"
awk -v x="$x" -v y="$y" 'BEGIN { printf "{\"value\": %.17g}\n", (x - 0.3)^2 + (y - 0.7)^2 }'
