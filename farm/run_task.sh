#!/usr/bin/env bash
# What every farm task runs, for Open Job Description (AWS Deadline Cloud) and Flamenco alike: it
# finds VirtualConductor's headless command line in the project folder, works out whether BLENDER
# is a Blender executable or a Python that has the bpy module, and runs `batch` on this task's
# share of the music folder (see farm/README.md).
#
#   run_task.sh BLENDER PROJECT_FOLDER check   MUSIC_FOLDER OUTPUT_FOLDER [--name=VALUE ...]
#   run_task.sh BLENDER PROJECT_FOLDER conduct MUSIC_FOLDER OUTPUT_FOLDER [--name=VALUE ...]
#
# check    what a job needs before any music is conducted: the project folder, an interpreter
#          with bpy, soundfile, soxr and safetensors, a music folder holding music, the scene file,
#          and an output folder this worker can write (made when missing). A problem is one
#          sentence on stderr and exit status 1; nothing is written.
# conduct  `batch MUSIC_FOLDER -o OUTPUT_FOLDER --shard ...` through BLENDER; its exit status is the
#          task's: 0 done, 1 bad input, 2 a bad setting, 3 some files failed (each named in the
#          log, the others done), 130 cancelled. Finished outputs are skipped, as batch does.
#
# Settings, each --name=VALUE; an empty VALUE leaves the command line's default:
#   --task=K/N      this task's share: files K, K+N, K+2N, ... of the folder's sorted list (default 1/1)
#   --render=true   also render each piece to NAME.mp4 (default false)
#   --exports=LIST  also export NAME.bvh, .glb, .gltf, .fbx, .npz, .json, .csv (comma-separated)
#   --extra=WORDS   more batch flags, split at spaces (no quoting): "--meter 3 --seed 7"
#   --FLAG=VALUE    any other batch flag: --weights=procedural --resolution=640x360 --scene=set.blend
#
# BLENDER is run as `BLENDER -b --python-exit-code 1 -P addon/headless_main.py -- batch ...` when
# `BLENDER --version` says Blender, as `BLENDER addon/headless_main.py batch ...` when it says
# Python. Blender starts with the user's preferences (no --factory-startup), so the packages of an
# installed VirtualConductor extension are found. Linux and macOS workers (bash); not Windows.
set -u

refuse() {
    echo "error: $*" >&2
    exit 1
}

if [ $# -lt 5 ]; then
    refuse "run_task.sh needs BLENDER PROJECT_FOLDER MODE MUSIC_FOLDER OUTPUT_FOLDER; see the top of farm/run_task.sh."
fi
blender=$1 project=$2 mode=$3 music=$4 output=$5
shift 5

task="" render="" exports="" extra="" scene="" weights=""
batch_flags=()
for setting in "$@"; do
    case $setting in
    --task=*) task=${setting#*=} ;;
    --render=*) render=${setting#*=} ;;
    --exports=*) exports=${setting#*=} ;;
    --extra=*) extra=${setting#*=} ;;
    --*=) ;; # empty: the command line's default
    --*=*)
        case $setting in
        --scene=*) scene=${setting#*=} ;;
        --weights=*) weights=${setting#*=} ;;
        esac
        batch_flags+=("$setting")
        ;;
    *) refuse "the setting '$setting' is not --name=VALUE; see the top of farm/run_task.sh." ;;
    esac
done

entry="$project/addon/headless_main.py"
if [ ! -f "$entry" ]; then
    refuse "Project folder '$project' holds no addon/headless_main.py; give the VirtualConductor folder (the one with addon/, core/ and farm/) on a path every worker reads."
fi

# Which interpreter BLENDER is: "blender" or "python" in $launcher_kind, its own words in $launcher_version.
launcher_kind="" launcher_version=""
find_launcher() {
    if ! command -v -- "$blender" >/dev/null 2>&1; then
        refuse "Blender '$blender' was not found on this worker; give the full path of a Blender executable or of a Python that has the bpy module."
    fi
    local answer
    answer=$("$blender" --version 2>/dev/null)
    launcher_version=$(printf '%s\n' "$answer" | grep -m 1 -E '^Blender [0-9]')
    if [ -n "$launcher_version" ]; then
        launcher_kind=blender
        return
    fi
    launcher_version=$(printf '%s\n' "$answer" | grep -m 1 -E '^Python 3')
    if [ -n "$launcher_version" ]; then
        launcher_kind=python
        return
    fi
    refuse "'$blender' is neither Blender nor Python (its --version said '$(printf '%s' "$answer" | head -n 1)'); give a Blender executable or a Python that has the bpy module."
}

# Run Python code in BLENDER the way the tasks run the command line.
run_python_code() {
    if [ "$launcher_kind" = blender ]; then
        "$blender" -b --python-exit-code 1 --python-expr "$1" 2>&1
    else
        "$blender" -c "$1" 2>&1
    fi
}

check_packages() {
    # The networks run on the CPU without PyTorch (ONNX Runtime, bundled with the extension, else NumPy).
    local wanted="bpy numpy soundfile soxr safetensors"
    local probe="import importlib.util; print('missing packages:', *[n for n in '$wanted'.split() if importlib.util.find_spec(n) is None])"
    local answer missing
    answer=$(run_python_code "$probe")
    if ! printf '%s\n' "$answer" | grep -q '^missing packages:'; then
        refuse "'$blender' could not run Python ($(printf '%s' "$answer" | tail -n 1)); give a Blender executable or a Python that has the bpy module."
    fi
    missing=$(printf '%s\n' "$answer" | grep -m 1 '^missing packages:' | cut -d: -f2 | xargs)
    if [ -n "$missing" ] && [ "$launcher_kind" = python ] && [[ " $missing " == *" bpy "* ]]; then
        refuse "'$blender' is a Python without the bpy module; give a Blender executable or a Python where 'import bpy' works (pip install bpy)."
    fi
    if [ -n "$missing" ]; then
        refuse "$launcher_version at '$blender' lacks the packages $missing; install the VirtualConductor extension into that Blender, or give the project's Python (make install's .venv/bin/python)."
    fi
}

# The music files batch takes from a folder (core/audio/decode.py's MUSIC_SUFFIXES, hidden files left out).
count_music_files() {
    local count=0 entry
    shopt -s nullglob nocaseglob
    for entry in "$music"/*.{wav,flac,ogg,oga,mp3,aif,aiff,m4a,aac,opus}; do
        [ -f "$entry" ] && count=$((count + 1))
    done
    shopt -u nullglob nocaseglob
    echo "$count"
}

check_job() {
    find_launcher
    check_packages
    if [ ! -d "$music" ]; then
        refuse "Music folder '$music' does not exist on this worker; check the path (it must be on storage every worker reads)."
    fi
    local files
    files=$(count_music_files)
    if [ "$files" -eq 0 ]; then
        refuse "Music folder '$music' holds no music files (wav, flac, ogg, mp3, aiff, m4a, aac, opus); check the path."
    fi
    if [ -n "$scene" ] && [ ! -f "$scene" ]; then
        refuse "Scene file '$scene' does not exist on this worker; check the path (it must be on storage every worker reads)."
    fi
    # Last, so that a job refused above leaves no folder behind.
    if ! mkdir -p -- "$output" 2>/dev/null || [ ! -d "$output" ]; then
        refuse "Output folder '$output' cannot be created on this worker; pick a folder every worker can write."
    fi
    local probe="$output/.farm-write-test-$$"
    if ! : >"$probe" 2>/dev/null; then
        refuse "Output folder '$output' is not writable on this worker; pick a folder every worker can write."
    fi
    rm -f -- "$probe"
    echo "check: $files music files in $music, outputs to $output; $launcher_version ($launcher_kind) at $blender"
}

conduct() {
    local number count
    if [[ ${task:-1/1} =~ ^([0-9]+)/([0-9]+)$ ]] && [ "${BASH_REMATCH[1]}" -ge 1 ] &&
        [ "${BASH_REMATCH[1]}" -le "${BASH_REMATCH[2]}" ]; then
        number=${BASH_REMATCH[1]} count=${BASH_REMATCH[2]}
    else
        refuse "--task=$task is not K/N with K from 1 to N, e.g. 2/8 for the second of eight tasks."
    fi
    case ${render:-false} in
    true | false) ;;
    *) refuse "--render=$render must be true or false." ;;
    esac
    local formats="blend"
    [ -n "$exports" ] && formats="$formats,$exports"
    [ "${render:-false}" = true ] && formats="$formats,mp4"
    local extra_words=()
    read -r -a extra_words <<<"$extra"
    local arguments=(batch "$music" -o "$output" --shard "$((number - 1))/$count" --formats "$formats")
    # ${a[@]+"${a[@]}"}: an empty array under set -u in the bash 3.2 of macOS.
    arguments+=(${batch_flags[@]+"${batch_flags[@]}"} ${extra_words[@]+"${extra_words[@]}"})
    find_launcher
    echo "task $number of $count: $launcher_version ($launcher_kind) runs headless_main.py ${arguments[*]}"
    # exec: the farm's cancel signal (SIGTERM) reaches the command line, which stops cleanly.
    if [ "$launcher_kind" = blender ]; then
        exec "$blender" -b --python-exit-code 1 -P "$entry" -- "${arguments[@]}"
    fi
    exec "$blender" "$entry" "${arguments[@]}"
}

case $mode in
check) check_job ;;
conduct) conduct ;;
*) refuse "the mode '$mode' is neither check nor conduct." ;;
esac
