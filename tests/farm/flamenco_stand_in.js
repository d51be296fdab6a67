// A small stand-in for the job-compiler API that Flamenco Manager gives its job type scripts, as
// Flamenco's documentation describes it (flamenco.blender.org, "Job Types"): author.Task(name,
// type), author.Command(name, parameters), task.addCommand, task.addDependency, job.addTask, and
// the globals JOB_TYPE and compileJob(job). It is a stand-in because no Flamenco Manager can run on
// the test machines; what Flamenco itself does with the result (scheduling, variables such as
// {blender}, retries) is not exercised here.
//
//   node flamenco_stand_in.js JOB_TYPE_FILE SETTINGS_JSON
//
// Prints one JSON line: {"job_type": JOB_TYPE, "tasks": [{name, type, commands, dependencies}]},
// or {"error": "..."} when compileJob throws (Flamenco refuses the submission with that message).
"use strict";

const fs = require("fs");
const vm = require("vm");

const [jobTypeFile, settingsJson] = process.argv.slice(2);

const author = {
    Task(name, type) {
        return {
            name,
            type,
            commands: [],
            dependencies: [],
            addCommand(command) {
                this.commands.push(command);
            },
            addDependency(task) {
                this.dependencies.push(task.name);
            },
        };
    },
    Command(name, parameters) {
        return { name, parameters };
    },
};

// The job type script runs as Flamenco runs it: a plain script whose top-level declarations are
// globals, with `author` and `print` provided.
const context = vm.createContext({ author, print: (...words) => console.error(...words) });
vm.runInContext(fs.readFileSync(jobTypeFile, "utf8"), context, { filename: jobTypeFile });

const job = {
    name: "stand-in job",
    settings: JSON.parse(settingsJson),
    metadata: {},
    tasks: [],
    addTask(task) {
        this.tasks.push(task);
    },
};

let result;
try {
    vm.runInContext("compileJob", context)(job);
    result = {
        job_type: vm.runInContext("JOB_TYPE", context),
        tasks: job.tasks.map(({ name, type, commands, dependencies }) => ({ name, type, commands, dependencies })),
    };
} catch (error) {
    result = { error: String(error && error.message !== undefined ? error.message : error) };
}
console.log(JSON.stringify(result));
