"""Video style transfer: clips in and out through PyAV, temporal consistency along optical flow.

- :mod:`.reader`: video files and folders of numbered frames, streamed frame by frame
- :mod:`.writer`: H.264/VP9 or numbered PNGs, atomically, with the audio copied
- :mod:`.flow`: DIS optical flow, warping, occlusions and motion boundaries
- :mod:`.temporal`: blending each stylised frame with the previous output; the temporal error
- :mod:`.render`: the loop that ties them to :func:`engine.runner.run_job`
"""

from .reader import ClipInfo, Frame, Position, is_video_input, open_clip, parse_position
from .render import FrameDone, VideoOptions, VideoReport, render_video
from .writer import check_video_output, is_folder_output

__all__ = ["ClipInfo", "Frame", "Position", "is_video_input", "open_clip", "parse_position", "FrameDone",
           "VideoOptions", "VideoReport", "render_video", "check_video_output", "is_folder_output"]
