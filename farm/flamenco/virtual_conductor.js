// SPDX-License-Identifier: GPL-3.0-or-later
//
// VirtualConductor as a Flamenco 3 job type: a folder of music in, a conducted .blend per piece out
// (and videos and exports if asked), run by VirtualConductor's headless command line on the workers.
//
// Install: copy this file into the `scripts/` folder beside the flamenco-manager executable and
// restart the Manager; the job type is then called "virtual_conductor". farm/README.md has the guide
// and a submit example.
//
// The job: a "check" task tests the project folder, the interpreter, the music folder and the output
// folder; then `task_count` "conduct" tasks each run `batch` on their share of the folder (task K of
// N takes files K, K+N, K+2N, ... of its sorted list); with `render` on, a "render" task per share
// follows its conduct task and adds the videos. Every task runs farm/run_task.sh from the project
// folder through the worker's bash (Linux and macOS workers), with Flamenco's `exec` command.

const JOB_TYPE = {
    label: "VirtualConductor: Conduct a Music Folder",
    description:
        "Conducts every music file of a folder: one .blend per piece with the conductor animated to " +
        "the music, optionally a video and exports. A file that cannot be conducted fails its own task.",
    settings: [
        // Where things are.
        {
            key: "music_folder",
            type: "string",
            subtype: "dir_path",
            required: true,
            visible: "submission",
            description: "The folder of music to conduct (its music files, not its subfolders)",
        },
        {
            key: "output_folder",
            type: "string",
            subtype: "dir_path",
            required: true,
            visible: "submission",
            description: "Where each piece's NAME.blend (and NAME.mp4 and exports) go; made when missing",
        },
        {
            key: "project_folder",
            type: "string",
            subtype: "dir_path",
            required: true,
            visible: "submission",
            description:
                "The VirtualConductor folder (with addon/headless_main.py and farm/run_task.sh) on " +
                "storage every worker reads: how workers find the code",
        },
        {
            key: "blender",
            type: "string",
            default: "{blender}",
            visible: "submission",
            description:
                "A Blender executable whose Python has soundfile, soxr and safetensors (the " +
                "VirtualConductor extension installed), or a Python with the bpy module and the " +
                "project's packages; default: the Manager's {blender} variable",
        },
        // How the work is split.
        {
            key: "task_count",
            type: "int32",
            default: 1,
            propargs: { min: 1 },
            visible: "submission",
            description:
                "How many tasks share the folder: the number of music files gives one task per file, " +
                "fewer tasks take several files each",
        },
        // The conductor: the command line's defaults.
        {
            key: "weights",
            type: "string",
            default: "default",
            visible: "submission",
            description: "default, procedural, neural (on the CPU, no PyTorch needed) or a weights file on shared storage",
        },
        {
            key: "tracker",
            type: "string",
            choices: ["auto", "learned", "dsp"],
            default: "auto",
            visible: "submission",
            description: "The beat tracker",
        },
        {
            key: "mapping",
            type: "string",
            default: "conductor",
            visible: "submission",
            description: "Bone mapping: conductor, rigify, mixamo or a .json file on shared storage",
        },
        {
            key: "scene",
            type: "string",
            subtype: "file_path",
            default: "",
            visible: "submission",
            description: "Animate into this .blend instead of a new file (empty: a new file with the conductor)",
        },
        {
            key: "armature",
            type: "string",
            default: "",
            visible: "submission",
            description: "The armature of the scene to animate (empty: create the conductor)",
        },
        {
            key: "exports",
            type: "string",
            default: "",
            visible: "submission",
            description: "Also write these beside each .blend, comma-separated: bvh, glb, gltf, fbx, npz, json, csv",
        },
        {
            key: "extra_arguments",
            type: "string",
            default: "",
            visible: "submission",
            description: "Any other flags of the batch command, split at spaces, e.g. '--meter 3 --seed 7'",
        },
        // Rendering.
        {
            key: "render",
            type: "bool",
            default: false,
            visible: "submission",
            description: "Also render each piece to NAME.mp4 with Cycles, in render tasks of their own",
        },
        {
            key: "resolution",
            type: "string",
            default: "1280x720",
            visible: "submission",
            description: "The video's WIDTHxHEIGHT in pixels",
        },
        {
            key: "samples",
            type: "int32",
            default: 16,
            propargs: { min: 1 },
            visible: "submission",
            description: "Cycles samples a pixel (denoised)",
        },
        {
            key: "gpu",
            type: "string",
            choices: ["none", "cuda", "optix", "hip", "oneapi", "metal"],
            default: "none",
            visible: "submission",
            description: "The Cycles GPU backend for the videos; none renders on the CPU",
        },
    ],
};

// Run by `bash -c` before anything else, so that a wrong project folder is one sentence in the log.
const FIND_RUN_TASK =
    'if [ ! -f "$2/farm/run_task.sh" ]; then echo "error: Project folder \'$2\' holds no farm/run_task.sh; ' +
    "give the VirtualConductor folder (the one with addon/, core/ and farm/) on a path every worker " +
    'reads." >&2; exit 1; fi; exec bash "$2/farm/run_task.sh" "$@"';

function compileJob(job) {
    const settings = withDefaults(job.settings || {});
    checkSettings(settings);
    const shared = sharedArguments(settings);

    const check = author.Task("check", "blender");
    check.addCommand(runTask(settings, "check", ["--weights=" + settings.weights, "--scene=" + settings.scene]));
    job.addTask(check);

    const count = settings.task_count;
    for (let number = 1; number <= count; number++) {
        const share = "--task=" + number + "/" + count;
        const conduct = author.Task("conduct-" + number + "-of-" + count, "blender");
        conduct.addCommand(runTask(settings, "conduct", [share, "--render=false"].concat(shared)));
        conduct.addDependency(check);
        job.addTask(conduct);
        if (settings.render) {
            // Same settings, so batch finds the share's .blend files made and adds only the videos.
            const render = author.Task("render-" + number + "-of-" + count, "blender");
            render.addCommand(runTask(settings, "conduct", [share, "--render=true"].concat(shared)));
            render.addDependency(conduct);
            job.addTask(render);
        }
    }
}

// The submitted settings, with each one left out taking its default from JOB_TYPE.
function withDefaults(submitted) {
    const settings = {};
    for (const setting of JOB_TYPE.settings) {
        const given = submitted[setting.key];
        settings[setting.key] = given === undefined || given === null ? setting.default : given;
    }
    return settings;
}

// Refuse, at submission, what would fail every task the same way.
function checkSettings(settings) {
    for (const setting of JOB_TYPE.settings) {
        if (setting.required && !settings[setting.key]) {
            throw "The setting " + setting.key + " is required: " + setting.description + ".";
        }
        if (setting.choices && setting.choices.indexOf(settings[setting.key]) < 0) {
            throw "The setting " + setting.key + " must be one of " + setting.choices.join(", ") + ".";
        }
    }
    if (!(Number.isInteger(settings.task_count) && settings.task_count >= 1)) {
        throw "The setting task_count must be a whole number of at least 1, not " + settings.task_count + ".";
    }
    if (!(Number.isInteger(settings.samples) && settings.samples >= 1)) {
        throw "The setting samples must be a whole number of at least 1, not " + settings.samples + ".";
    }
    if (!/^[1-9][0-9]*x[1-9][0-9]*$/.test(String(settings.resolution))) {
        throw "The setting resolution must be WIDTHxHEIGHT in pixels, e.g. 1280x720, not '" + settings.resolution + "'.";
    }
}

// The settings every conduct and render task passes to farm/run_task.sh (an empty one: the default).
function sharedArguments(settings) {
    return [
        "--weights=" + settings.weights,
        "--tracker=" + settings.tracker,
        "--mapping=" + settings.mapping,
        "--scene=" + settings.scene,
        "--armature=" + settings.armature,
        "--exports=" + settings.exports,
        "--resolution=" + settings.resolution,
        "--samples=" + settings.samples,
        "--gpu=" + settings.gpu,
        "--extra=" + settings.extra_arguments,
    ];
}

function runTask(settings, mode, settingArguments) {
    const args = [
        "-c",
        FIND_RUN_TASK,
        "virtual-conductor",
        settings.blender,
        settings.project_folder,
        mode,
        settings.music_folder,
        settings.output_folder,
    ];
    return author.Command("exec", { exe: "bash", args: args.concat(settingArguments) });
}
