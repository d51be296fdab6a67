"""Operators: generate (a background worker polled by a modal timer, or synchronous), create a
conductor, cancel.

The operators only bridge: read the settings into plain data (``read_inputs``), run the worker
(``worker.py``), hand the motion to the scene code (``apply.py``). Heavy modules are imported
inside the methods so enabling the add-on stays instant. A user-fixable problem is a
``ConductorError`` and becomes one ``self.report``; anything else is reported in one sentence with
the traceback on the console.
"""

from __future__ import annotations

import dataclasses
import os
import random
import shutil
import tempfile
import traceback
from pathlib import Path

import bpy
from bpy.props import BoolProperty

from ..core.errors import GenerationCancelled, ConductorError, one_of
from ..core.generate_options import DEFAULT, NEURAL, PROCEDURAL, GenerateOptions, normalised
from ..core.generate_options import runs_procedural as weights_run_procedural
from ..core.motion.keypoints import MOTION_SUFFIXES
from ..core.outputs import check_output_folder
from . import compat
from .apply import ApplyOptions, check_target, lead_in_notes, moved_music_frame, put_motion_in_scene, take_frames
from .beat_markers import has_beat_markers
from .background import BackgroundTask
from .generation import dependency_paths
from .properties import get_settings, read_options, sound_strips_collection

TIMER_INTERVAL_S = 0.15
GENERATE = "generate"  # the BackgroundTask kind of a run; its details name the run's scene


# ---------------------------------------------------------------------------- inputs
@dataclasses.dataclass(frozen=True)
class Inputs:
    """Everything a run needs, as plain data, checked before any work starts."""

    audio_path: str
    generate: GenerateOptions
    apply: ApplyOptions
    create_conductor: bool
    save_motion_path: str


def absolute(path: str) -> str:
    return os.path.normpath(bpy.path.abspath(path)) if path else ""


@dataclasses.dataclass(frozen=True)
class Music:
    """The music a run reads: its file, whether the run still adds its sound strip, the scene
    frame where the music's first sample plays (a strip's own start when the music is a strip, or
    when the user dragged the strip a run added for the file, so the motion stays under the strip
    wherever the user placed it; else the Start Frame setting), and whether the user placed it
    (then a lead-in never moves it)."""

    path: str
    needs_strip: bool
    start_frame: int
    placed_by_user: bool = False


def resolve_music(settings, scene) -> Music:
    """The run's :class:`Music`, or ConductorError."""
    if settings.music_source == "STRIP":
        name = settings.music_strip
        if not name:
            raise ConductorError("Choose a sound strip in the Music section.")
        found = sound_strips_collection(scene)
        strip = getattr(found[0], found[1]).get(name) if found else None
        if strip is None or strip.type != "SOUND" or strip.sound is None:
            raise ConductorError(f"'{name}' is not a sound strip of this scene; pick another.")
        if strip.sound.packed_file is not None:
            raise ConductorError(
                f"The sound of '{name}' is packed into the .blend; unpack it (File > External "
                "Data > Unpack Resources) so the generator can read it."
            )
        path = os.path.normpath(bpy.path.abspath(strip.sound.filepath, library=strip.sound.library))
        # The content start is where the sound's first sample plays, trimmed or not (a float since 4.x).
        music = Music(path, needs_strip=False, start_frame=int(round(compat.strip_start(strip))), placed_by_user=True)
    else:
        if not settings.music_path:
            raise ConductorError("Choose a music file in the Music section.")
        path = absolute(settings.music_path)
        dragged = moved_music_frame(scene, path) if settings.add_sound else None
        if dragged is not None:  # the user moved the strip a run added: the music is where they put it
            music = Music(path, needs_strip=True, start_frame=dragged, placed_by_user=True)
        else:
            music = Music(path, needs_strip=settings.add_sound, start_frame=settings.start_frame)
    if not os.path.isfile(music.path):
        raise ConductorError(f"Music file '{music.path}' does not exist; check the path.")
    return music


NAMED_WEIGHTS = {"DEFAULT": DEFAULT, "PROCEDURAL": PROCEDURAL, "NEURAL": NEURAL}  # the panel's names


def resolve_weights(settings) -> str:
    if settings.weights in NAMED_WEIGHTS:
        return NAMED_WEIGHTS[settings.weights]
    official = settings.weights == "OFFICIAL"
    path = settings.official_weights_path if official else settings.custom_weights_path
    if not path:
        raise ConductorError("Choose a weights file in the Model section.")
    path = absolute(path)
    if not os.path.isfile(path):
        raise ConductorError(f"Weights file '{path}' does not exist; check the path.")
    return path


def runs_procedural(settings) -> bool:
    """Whether Generate runs the procedural conductor (core.generate_options.runs_procedural);
    a weights file of the user's never does."""
    return settings.weights in NAMED_WEIGHTS and weights_run_procedural(NAMED_WEIGHTS[settings.weights])


def resolve_mapping(settings) -> str:
    if settings.mapping != "CUSTOM":
        return settings.mapping.lower()
    if not settings.mapping_path:
        raise ConductorError("Choose a bone mapping file (.json) in the Target section.")
    path = absolute(settings.mapping_path)
    if not os.path.isfile(path):
        raise ConductorError(f"Bone mapping file '{path}' does not exist; check the path.")
    return path


def check_writable(path: str) -> None:
    """Raise ConductorError unless a motion file can be written at ``path``."""
    target = Path(path)
    if target.suffix.lower() not in MOTION_SUFFIXES:
        raise ConductorError(f"Cannot save motion as '{target.name}': use a {one_of(MOTION_SUFFIXES)} file name.")
    check_output_folder(target.parent)


def music_duration_s(path: str) -> float | None:
    """The music's length in seconds from its header (no decoding), or None where it cannot be
    read so (then the worker's decoding tells)."""
    import soundfile

    try:
        return float(soundfile.info(path).duration)
    except Exception:  # a format soundfile does not read (ffmpeg's), or a broken file
        return None


def resolve_beats(settings, scene, folder: str | None, *, start_frame: int, music_path: str) -> dict:
    """The beat grid a run conducts on, as GenerateOptions fields: none (detect), the timeline's
    beat markers (read from ``start_frame``, the music's first frame, checked to lie within the
    music of ``music_path`` and written into ``folder`` as a label track) or a file; raises
    ConductorError."""
    from ..core.beats.grid import BEATS_SUFFIXES, MIDI_SUFFIXES

    if settings.beat_source == "DETECT":
        return {}
    if settings.beat_source == "MARKERS":
        from .beat_markers import write_markers_as_labels

        folder = folder or tempfile.mkdtemp(prefix="virtual_conductor_")
        markers = os.path.join(folder, "markers.txt")
        path = write_markers_as_labels(scene, markers, start_frame=start_frame, duration_s=music_duration_s(music_path))
        offset_s = None
    else:
        if not settings.beats_file:
            raise ConductorError("Choose a beat file in the Beats section, or another Beat Source.")
        path = absolute(settings.beats_file)
        if Path(path).suffix.lower() not in BEATS_SUFFIXES:
            raise ConductorError(f"'{Path(path).name}' is not a beat grid; choose a {one_of(BEATS_SUFFIXES)} file.")
        if not os.path.isfile(path):
            raise ConductorError(f"Beat file '{path}' does not exist; choose it again in the Beats section.")
        midi = Path(path).suffix.lower() in MIDI_SUFFIXES
        offset_s = None if midi and settings.find_beats_offset else settings.beats_offset_s
    return {"beats_path": path, "beats_offset_s": offset_s, "beat_lock": settings.beat_lock}


def read_inputs(context, folder: str | None = None) -> Inputs:
    """Check the scene's settings and turn them into plain data; raises ConductorError. A beat
    grid from the timeline is written into ``folder`` (the run's temporary folder)."""
    scene = context.scene
    settings = get_settings(scene)
    create = settings.target == "CREATE"
    if not create:
        armature = settings.armature
        if armature is None:
            raise ConductorError("No target armature: pick one or choose Create Conductor in the Target section.")
        if armature.name not in scene.objects:
            raise ConductorError(f"Armature '{armature.name}' is not in this scene; pick another.")
    music = resolve_music(settings, scene)
    weights = resolve_weights(settings)
    mapping = "conductor" if create else resolve_mapping(settings)
    save_path = absolute(settings.save_motion_path)
    if save_path:
        check_writable(save_path)
    generate = read_options(
        GenerateOptions,
        settings,
        weights=weights,
        device=settings.device.lower(),
        seed=random.randrange(2**31) if settings.use_random_seed else settings.seed,
        **resolve_beats(settings, scene, folder, start_frame=music.start_frame, music_path=music.path),
    )
    # The panel keeps every field while the model or the beat source changes and greys out what
    # they have no use for; the run drops those (core's one table of which settings go together).
    generate = normalised(generate, procedural=runs_procedural(settings))
    apply = read_options(
        ApplyOptions,
        settings,
        mapping=mapping,
        add_sound=music.needs_strip,
        audio_path=music.path,
        start_frame=music.start_frame,
        # A strip stays where the user put it, and beat markers where they were put from the music.
        fixed_music_start=music.placed_by_user or has_beat_markers(scene),
    )
    if not create:
        check_target(scene, armature, apply)  # the rig's bones against the mapping, before the music is read
    return Inputs(
        audio_path=music.path, generate=generate, apply=apply, create_conductor=create, save_motion_path=save_path
    )


@dataclasses.dataclass(frozen=True)
class Reason:
    """Why a run cannot start: what it is about (``"run"``, ``"scene"``, ``"music"``,
    ``"model"`` or ``"target"``) and the sentence the greyed-out button shows."""

    about: str
    sentence: str


def disabled_reasons(context) -> list[Reason]:
    """Why a run cannot start now (none when it can), in the order the panel reads; only checks
    that need no file access."""
    if BackgroundTask.get(GENERATE) is not None:
        return [Reason("run", "A generation is already running; wait for it or press Cancel.")]
    scene = getattr(context, "scene", None)
    if scene is None:
        return [Reason("scene", "There is no scene to animate.")]
    reasons = []
    if getattr(context, "mode", "OBJECT") not in {"OBJECT", "POSE"}:
        reasons.append(Reason("scene", "Switch to Object or Pose Mode to generate."))
    settings = get_settings(scene)
    if settings.music_source == "FILE" and not settings.music_path:
        reasons.append(Reason("music", "Choose a music file in the Music section."))
    if settings.music_source == "STRIP" and not settings.music_strip:
        reasons.append(Reason("music", "Choose a sound strip in the Music section."))
    if settings.weights == "OFFICIAL" and not settings.official_weights_path:
        reasons.append(Reason("model", "Choose the official checkpoint file in the Model section."))
    if settings.weights == "CUSTOM" and not settings.custom_weights_path:
        reasons.append(Reason("model", "Choose a weights file in the Model section."))
    if settings.target == "EXISTING" and settings.armature is None:
        reasons.append(Reason("target", "Pick a target armature or choose Create Conductor in the Target section."))
    return reasons


# ---------------------------------------------------------------------------- scene work
def apply_to_scene(scene, inputs: Inputs, motion_path: Path):
    """Load the motion, keep a copy if asked, and write it into ``scene`` with its settings
    (whichever scene is active now) through :func:`addon.apply.put_motion_in_scene`, all or
    nothing. Returns (armature object, ApplyResult)."""
    from ..core.motion.keypoints import Motion

    motion = Motion.load(motion_path)
    if inputs.save_motion_path:
        motion.save(inputs.save_motion_path)
    settings = get_settings(scene)
    target = None if inputs.create_conductor else settings.armature
    armature, result = put_motion_in_scene(scene, motion, inputs.apply, armature_obj=target)
    if settings.music_source == "FILE" and settings.start_frame != result.music_frame:
        settings.start_frame = result.music_frame  # moved for the lead-in, or by the user: Start Frame says where
    if inputs.create_conductor:
        settings.armature = armature
        settings.target = "EXISTING"
    return armature, result


def finish_run(scene_name: str, inputs: Inputs, motion_path: Path):
    """Apply a finished background run to the scene it started in, found by name; raises
    ConductorError when that scene no longer exists. Returns (armature object, ApplyResult)."""
    scene = bpy.data.scenes.get(scene_name)
    if scene is None:
        raise ConductorError(f"The scene '{scene_name}' no longer exists; the generated motion was not applied.")
    return apply_to_scene(scene, inputs, motion_path)


def finished_message(armature, result) -> str:
    """What the panel and the report say when a run is applied, with the motion's notes."""
    return " ".join(
        [
            f"Conducting written to '{armature.name}': frames {result.frame_start}"
            f"{'-' if result.frame_start >= 0 else ' to '}{result.frame_end}, action '{result.action_name}'.",
            *([f"{result.beaten[0].upper()}{result.beaten[1:]}."] if result.beaten else []),
            *result.notes,
        ]
    )


def report_failure(operator, error: BaseException) -> set[str]:
    """Turn an exception into one report; returns the operator's result."""
    if isinstance(error, GenerationCancelled):
        operator.report({"WARNING"}, str(error))
    elif isinstance(error, ConductorError):
        operator.report({"ERROR"}, str(error))
    else:
        traceback.print_exception(type(error), error, error.__traceback__)
        operator.report(
            {"ERROR"},
            f"Generation failed unexpectedly ({type(error).__name__}: {error}); the system console has the details.",
        )
    return {"CANCELLED"}


def worker_request(inputs: Inputs, folder: str):
    from .worker import WorkerRequest

    return WorkerRequest(inputs.audio_path, os.path.join(folder, "motion.npz"), inputs.generate)


def redraw_sidebars(context) -> None:
    for window in getattr(context.window_manager, "windows", ()):
        for area in window.screen.areas:
            if area.type == "VIEW_3D":
                area.tag_redraw()


def job_scene():
    """The scene the running job started in, looked up by name (None when gone or no job)."""
    task = BackgroundTask.get(GENERATE)
    try:
        return bpy.data.scenes.get(task.details["scene"]) if task is not None else None
    except AttributeError:  # bpy.data is restricted while add-ons are enabled at startup
        return None


def cancel_running_job() -> None:
    """End this session's run, if any: stop the worker, remove its timer and temporary folder,
    and reset the job state of its scene (used by the operator, on unregister, on file load)."""
    task = BackgroundTask.get(GENERATE)
    if task is None:
        return
    scene = job_scene()
    task.stop()
    if scene is not None and hasattr(scene, "virtual_conductor"):
        get_settings(scene).reset_job_state()


# ---------------------------------------------------------------------------- operators
class WorkerOperator(bpy.types.Operator):
    """What Generate and Analyse Beats share: the run's inputs read and checked first, the worker
    run synchronously (``execute``: scripts, ``blender -b``) or in the background, polled by a
    modal timer (``invoke``), then its output applied to the scene the run started in. A
    subclass says what to run (``start``: the request, from the inputs) and what to do with the
    result (``finish``: the report's sentence); both raise ConductorError on bad input."""

    bl_options = {"UNDO"}  # one undo step; no REGISTER: Repeat Last would re-run the blocking path
    verb = "Generation"

    synchronous: BoolProperty(
        name="Synchronous",
        description="Wait for the result instead of running in the background",
        options={"SKIP_SAVE", "HIDDEN"},
    )

    def start(self, context, folder: str):  # -> WorkerRequest
        raise NotImplementedError

    def finish(self, scene, output_path: Path) -> str:
        raise NotImplementedError

    @classmethod
    def poll(cls, context) -> bool:
        reason = cls.disabled_reason(context)
        if reason:
            cls.poll_message_set(reason)
            return False
        return True

    needs: tuple[str, ...] = ("run", "scene", "music", "model", "target")  # the reasons (Reason.about) that stop it

    @classmethod
    def disabled_reason(cls, context) -> str:
        """The first of :func:`disabled_reasons` that concerns this operator ("" when none does)."""
        return next((reason.sentence for reason in disabled_reasons(context) if reason.about in cls.needs), "")

    # ------------------------------------------------------------ synchronous path
    def execute(self, context):
        from .worker import run_blocking

        settings = get_settings(context.scene)
        folder = tempfile.mkdtemp(prefix="virtual_conductor_")
        try:
            request = self.start(context, folder)
            settings.is_running, settings.cancel_requested = True, False
            output = run_blocking(
                request, extra_paths=dependency_paths(), should_cancel=lambda: settings.cancel_requested
            )
            settings.status = "Writing to the scene"
            message = self.finish(context.scene, output)
        except Exception as error:
            settings.status = str(error) if isinstance(error, ConductorError) else "Failed"
            return report_failure(self, error)
        finally:
            settings.reset_job_state()
            shutil.rmtree(folder, ignore_errors=True)
        settings.status = message
        self.report({"INFO"}, message)
        return {"FINISHED"}

    # ------------------------------------------------------------ background path
    def invoke(self, context, event):
        if self.synchronous or bpy.app.background:
            return self.execute(context)
        from .worker import GenerationJob

        settings = get_settings(context.scene)
        folder = tempfile.mkdtemp(prefix="virtual_conductor_")
        try:
            job = GenerationJob(self.start(context, folder), extra_paths=dependency_paths())
        except Exception as error:
            shutil.rmtree(folder, ignore_errors=True)
            settings.status = str(error) if isinstance(error, ConductorError) else "Failed"
            return report_failure(self, error)
        task = BackgroundTask(
            GENERATE, job, cleanup=lambda: shutil.rmtree(folder, ignore_errors=True), scene=context.scene.name
        )
        task.start_timer(context.window_manager, context.window, TIMER_INTERVAL_S)
        settings.is_running, settings.cancel_requested = True, False
        settings.progress, settings.status = 0.0, job.message
        context.window_manager.modal_handler_add(self)
        return {"RUNNING_MODAL"}

    def modal(self, context, event):
        try:
            return self._step(context, event)
        except Exception as error:
            return self._end(context, report_failure(self, error))

    def _step(self, context, event) -> set[str]:
        task = BackgroundTask.get(GENERATE)
        if task is None:  # stopped from outside (file load, unregister)
            return self._end(context, {"CANCELLED"})
        job = task.job
        scene = job_scene()  # by name on every tick: undo replaces the scene data-block
        if scene is None:
            job.cancel()
            self.report({"ERROR"}, f"{self.verb} stopped: the scene '{task.details['scene']}' no longer exists.")
            return self._end(context, {"CANCELLED"})
        settings = get_settings(scene)
        if settings.cancel_requested:  # the panel's Cancel button; Esc stays with Blender
            job.cancel()
            settings.status = "Cancelled; the scene was not changed."
            self.report({"WARNING"}, f"{self.verb} cancelled; the scene was not changed.")
            return self._end(context, {"CANCELLED"})
        if event.type != "TIMER":
            return {"PASS_THROUGH"}
        state = job.poll()
        settings.progress, settings.status = job.progress, job.message
        redraw_sidebars(context)
        if state == "running":
            return {"PASS_THROUGH"}
        if state != "done":
            settings.status = job.error
            return self._end(context, report_failure(self, ConductorError(job.error)))
        try:
            message = self.finish(scene, job.output_path)
        except Exception as error:
            settings.status = str(error) if isinstance(error, ConductorError) else "Failed"
            return self._end(context, report_failure(self, error))
        settings.status = message
        self.report({"INFO"}, message)
        return self._end(context, {"FINISHED"})

    def cancel(self, context) -> None:
        """Blender ends the operator (window closed, file loaded): clean up like ``_end``."""
        self._end(context, {"CANCELLED"})

    def _end(self, context, result: set[str]) -> set[str]:
        cancel_running_job()
        redraw_sidebars(context)
        return result


class CONDUCTOR_OT_generate(WorkerOperator):
    """Generate conducting motion for the music and keyframe it onto the target armature"""

    bl_idname = "conductor.generate"
    bl_label = "Generate Conducting"

    def start(self, context, folder: str):
        self._inputs = read_inputs(context, folder)
        return worker_request(self._inputs, folder)

    def finish(self, scene, output_path: Path) -> str:
        armature, result = finish_run(scene.name, self._inputs, output_path)
        return finished_message(armature, result)


class CONDUCTOR_OT_analyse_beats(WorkerOperator):
    """Find the beats and bars of the music and put them on the timeline as markers (12.1, 12.2, ...;
    downbeats marked |12.1), replacing this tool's earlier markers; move, add, delete or rename them, then
    choose Beat Source: Timeline Markers"""

    bl_idname = "conductor.analyse_beats"
    bl_label = "Analyse Beats"
    verb = "Beat analysis"

    needs = ("run", "scene", "music")  # the beats need neither a model nor a target

    def invoke(self, context, event):
        from .beat_markers import marker_edits

        edits = marker_edits(context.scene)
        if edits and not (self.synchronous or bpy.app.background):
            # Confirmed, Blender runs execute (the synchronous path): the beats of a piece take seconds.
            return context.window_manager.invoke_confirm(
                self,
                event,
                title="Replace Your Beat Markers?",
                message=f"You {edits.sentence()} since the last analysis; the tracked beats replace them.",
                confirm_text="Replace",
                icon="WARNING",
            )
        return super().invoke(context, event)

    def start(self, context, folder: str):
        from .beat_markers import marker_edits
        from .worker import WorkerRequest

        settings = get_settings(context.scene)
        music = resolve_music(settings, context.scene)
        options = read_options(GenerateOptions, settings, weights=PROCEDURAL)
        self._start_frame = music.start_frame
        self._music_placed_by_user = music.placed_by_user
        self._music_name = Path(music.path).name
        self._edits = marker_edits(context.scene)  # said when replaced (headless cannot be asked)
        return WorkerRequest(
            music.path,
            os.path.join(folder, "beats.json"),
            GenerateOptions(meter=options.meter, tracker=options.tracker),
            command="beats",
        )

    def finish(self, scene, output_path: Path) -> str:
        from ..core.beats.grid import load_grid, saved_beat_count
        from ..core.beats.track import no_beats_heard
        from ..core.motion.keypoints import MOTION_FPS
        from ..core.procedural.planning import lead_in_frames
        from .beat_markers import put_beat_markers
        from .keyframes import scene_fps

        if saved_beat_count(output_path) == 0:
            raise ConductorError(
                f"{no_beats_heard(self._music_name)}; the timeline was not changed. Choose music with a pulse, "
                "or add beat markers (M) by hand."
            )
        track = load_grid(output_path, duration_s=float("inf"))
        settings = get_settings(scene)
        # The markers are put from where Generate will start the music: a file's music later when
        # the procedural conductor's preparation needs the frames before it (addon.apply.take_frames;
        # the networks' motion has none).
        fps = scene_fps(scene)
        lead_in = round(lead_in_frames(track) / MOTION_FPS * fps) if runs_procedural(settings) else 0
        first_frame, music_frame = take_frames(self._start_frame, lead_in, fixed_music_start=self._music_placed_by_user)
        if settings.music_source == "FILE" and settings.start_frame != music_frame:
            settings.start_frame = music_frame
        count = put_beat_markers(scene, track, start_frame=music_frame)
        settings.beat_source = "MARKERS"
        replaced = f" They replace the markers you {self._edits.sentence()}." if self._edits else ""
        moved = lead_in_notes(self._start_frame, first_frame, music_frame, lead_in, fps)
        return " ".join(
            [
                f"Marked {count} beats in {len(track.bar_meters)} bars on the timeline; move, add or delete "
                f"markers, then Generate conducts on them.{replaced}",
                *moved,
            ]
        )


class CONDUCTOR_OT_cancel(bpy.types.Operator):
    """Stop the running generation; the scene stays as it was"""

    bl_idname = "conductor.cancel"
    bl_label = "Cancel"
    bl_options = {"INTERNAL"}

    @classmethod
    def poll(cls, context) -> bool:
        if BackgroundTask.get(GENERATE) is None:
            cls.poll_message_set("Nothing is being generated.")
            return False
        return True

    def execute(self, context):
        scene = job_scene() or context.scene
        get_settings(scene).cancel_requested = True
        return {"FINISHED"}


def demo_piece_path() -> Path:
    """The demo piece bundled with the installed add-on (read in place, never copied)."""
    from .worker import extension_root

    return extension_root() / "core" / "assets" / "demo_piece.ogg"


class CONDUCTOR_OT_use_demo_piece(bpy.types.Operator):
    """Conduct the short demo piece that ships with the add-on"""

    bl_idname = "conductor.use_demo_piece"
    bl_label = "Try the Demo Piece"
    bl_options = {"REGISTER", "UNDO"}

    @classmethod
    def poll(cls, context) -> bool:
        if context.scene is None:
            cls.poll_message_set("There is no scene to set the music of.")
            return False
        if not demo_piece_path().is_file():
            cls.poll_message_set("The demo piece is missing from this installation.")
            return False
        return True

    def execute(self, context):
        settings = get_settings(context.scene)
        settings.music_source = "FILE"
        settings.music_path = str(demo_piece_path())
        return {"FINISHED"}


SECOND_CONDUCTOR_STEP_M = 1.2  # each further conductor stands this far along +X from the one before


class CONDUCTOR_OT_create_conductor(bpy.types.Operator):
    """Add a conductor figure (armature and body) and make it the target"""

    bl_idname = "conductor.create_conductor"
    bl_label = "Create Conductor"
    bl_options = {"REGISTER", "UNDO"}

    @classmethod
    def poll(cls, context) -> bool:
        if context.scene is None:
            cls.poll_message_set("There is no scene to add the conductor to.")
            return False
        if context.mode != "OBJECT":
            cls.poll_message_set("Switch to Object Mode to add a conductor.")
            return False
        return True

    def execute(self, context):
        try:
            from .conductor_body import COLLECTION_NAME, create_conductor

            earlier = [
                child for child in context.scene.collection.children_recursive if child.name.startswith(COLLECTION_NAME)
            ]
            # A second conductor stands beside the first and leaves its camera, lights and floor alone.
            armature = create_conductor(
                context,
                baton_hand=get_settings(context.scene).baton_hand.lower(),
                camera=not earlier,
                lights=not earlier,
                stage=not earlier,
            )
            armature.location.x += SECOND_CONDUCTOR_STEP_M * len(earlier)
        except Exception as error:
            return report_failure(self, error)
        settings = get_settings(context.scene)
        settings.armature = armature
        settings.target = "EXISTING"
        beside = f", {SECOND_CONDUCTOR_STEP_M * len(earlier):g} m to the side of the first" if earlier else ""
        self.report({"INFO"}, f"Added conductor '{armature.name}'{beside}.")
        return {"FINISHED"}


classes = (
    CONDUCTOR_OT_generate,
    CONDUCTOR_OT_analyse_beats,
    CONDUCTOR_OT_cancel,
    CONDUCTOR_OT_use_demo_piece,
    CONDUCTOR_OT_create_conductor,
)
