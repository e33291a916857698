"""Real wire bodies, one per event type, for unit tests of handlers (`consumers.testing.sample`).

OpenVidu 2 bodies are exactly what OpenVidu 2.32 posts (`event` last); LiveKit bodies are protobuf JSON as
OpenVidu 3 posts them. Generated from the corpus in tests/corpus; values are illustrative but consistent.
"""

from __future__ import annotations

OPENVIDU: dict[str, bytes] = {
    "HANodeDeregistered": (
        b'{"timestamp":1718020000456,"nodeId":"master_10.5.0.6","ip":"10.5.0.6","reason":"mediaNodeStatusT'
        b'erminated","event":"HANodeDeregistered"}'
    ),
    "HANodeRegistered": (
        b'{"timestamp":1718010000123,"nodeId":"master_10.5.0.6","ip":"10.5.0.6","event":"HANodeRegistered"}'
    ),
    "autoscaling": (
        b'{"timestamp":1718011200450,"clusterId":"prod-cluster-1","reason":"The cluster average load (82.4'
        b"0%) is above its limits [30.00%, 70.00%] and the upper limit of Media Nodes (4) has not been rea"
        b"ched. Current number of active nodes is 1 (0 launching and 1 running). 1 new Media Node will be "
        b'launched.","mediaNodes":{"launch":{"total":1,"newNodes":1,"waitingIdleToTerminateNodes":[],"canc'
        b'eledNodes":[]},"terminate":{"total":0,"runningNodes":[],"launchingNodes":[]}},"system":{"config"'
        b':{"maxNodes":4,"minNodes":1,"maxAvgLoad":70,"minAvgLoad":30},"status":{"numNodes":1,"totalLoad":'
        b'82.4,"avgLoad":82.4,"runningNodes":[{"id":"media_i-0a1b2c3d4e5f67890","environmentId":"i-0a1b2c3'
        b'd4e5f67890","ip":"172.31.10.25","load":82.4,"status":"running"}],"launchingNodes":[],"waitingIdl'
        b'eToTerminateNodes":[],"canceledNodes":[]}},"event":"autoscaling"}'
    ),
    "broadcastStarted": (
        b'{"sessionId":"ses_Jd8tUyvhXO","uniqueSessionId":"ses_Jd8tUyvhXO_1718012345678","timestamp":17180'
        b'12500250,"event":"broadcastStarted"}'
    ),
    "broadcastStopped": (
        b'{"sessionId":"ses_Jd8tUyvhXO","uniqueSessionId":"ses_Jd8tUyvhXO_1718012345678","timestamp":17180'
        b'13051300,"startTime":1718012500250,"duration":551,"reason":"lastParticipantLeft","event":"broadc'
        b'astStopped"}'
    ),
    "filterEventDispatched": (
        b'{"sessionId":"ses_Jd8tUyvhXO","uniqueSessionId":"ses_Jd8tUyvhXO_1718012345678","timestamp":17180'
        b'12455001,"participantId":"con_EIeO06zgMz","connectionId":"con_EIeO06zgMz","streamId":"str_CAM_Gp'
        b'df_con_EIeO06zgMz","filterType":"ZBarFilter","eventType":"CodeFound","data":"{timestampMillis=17'
        b"18012455001, codeType=EAN-13, source=2f5c1a9e-0b7d-4c43-9f0e-5d1c7a3b8e21_kurento.MediaPipeline/"
        b"6d9e3b1f-3c2a-4e8b-a1d7-0f4e2c9b7a55_kurento.ZBarFilter, type=CodeFound, value=0012345678905, ta"
        b'gs=[], timestamp=1718012455}","event":"filterEventDispatched"}'
    ),
    "mediaNodeStatusChanged": (
        b'{"timestamp":1718011000321,"id":"media_i-0a1b2c3d4e5f67890","environmentId":"i-0a1b2c3d4e5f67890'
        b'","ip":"172.31.10.25","uri":"ws://172.31.10.25:8888/kurento","newStatus":"running","oldStatus":"'
        b'launching","clusterId":"prod-cluster-1","event":"mediaNodeStatusChanged"}'
    ),
    "nodeCrashed": (
        b'{"timestamp":1718013100555,"id":"media_i-0a1b2c3d4e5f67890","environmentId":"i-0a1b2c3d4e5f67890'
        b'","ip":"172.31.10.25","uri":"ws://172.31.10.25:8888/kurento","nodeRole":"medianode","sessionIds"'
        b':["ses_Jd8tUyvhXO","ses_6rttUnoF2w"],"recordingIds":["ses_Jd8tUyvhXO"],"broadcasts":["ses_6rttUn'
        b'oF2w"],"clusterId":"prod-cluster-1","timeOfDisconnection":1718013090120,"event":"nodeCrashed"}'
    ),
    "nodeRecovered": (
        b'{"timestamp":1718013095871,"id":"media_i-0a1b2c3d4e5f67890","environmentId":"i-0a1b2c3d4e5f67890'
        b'","ip":"172.31.10.25","uri":"ws://172.31.10.25:8888/kurento","nodeRole":"medianode","clusterId":'
        b'"prod-cluster-1","event":"nodeRecovered"}'
    ),
    "participantJoined": (
        b'{"sessionId":"ses_Jd8tUyvhXO","uniqueSessionId":"ses_Jd8tUyvhXO_1718012345678","timestamp":17180'
        b'12351204,"participantId":"con_EIeO06zgMz","connectionId":"con_EIeO06zgMz","location":"unknown","'
        b'ip":"37.122.145.190","platform":"Chrome 125.0.0.0 on Windows 10 64-bit","clientData":"{\\"clientD'
        b'ata\\":\\"Alice\\"}","serverData":"{\\"userId\\":4711,\\"role\\":\\"teacher\\"}","event":"participantJoin'
        b'ed"}'
    ),
    "participantLeft": (
        b'{"sessionId":"ses_Jd8tUyvhXO","uniqueSessionId":"ses_Jd8tUyvhXO_1718012345678","timestamp":17180'
        b'13050112,"startTime":1718012351204,"duration":698,"reason":"disconnect","participantId":"con_EIe'
        b'O06zgMz","connectionId":"con_EIeO06zgMz","location":"unknown","ip":"37.122.145.190","platform":"'
        b'Chrome 125.0.0.0 on Windows 10 64-bit","clientData":"{\\"clientData\\":\\"Alice\\"}","serverData":"{'
        b'\\"userId\\":4711,\\"role\\":\\"teacher\\"}","event":"participantLeft"}'
    ),
    "recordingStarted": (
        b'{"sessionId":"ses_Jd8tUyvhXO","uniqueSessionId":"ses_Jd8tUyvhXO_1718012345678","timestamp":17180'
        b'12400017,"id":"ses_Jd8tUyvhXO","name":"standup-2024-06-10","outputMode":"COMPOSED","resolution":'
        b'"1280x720","frameRate":25,"recordingLayout":"BEST_FIT","hasAudio":true,"hasVideo":true,"size":0,'
        b'"duration":0.0,"event":"recordingStarted"}'
    ),
    "recordingStatusChanged": (
        b'{"sessionId":"ses_Jd8tUyvhXO","uniqueSessionId":"ses_Jd8tUyvhXO_1718012345678","timestamp":17180'
        b'13002950,"startTime":1718012400017,"duration":600.183,"reason":"recordingStoppedByServer","id":"'
        b'ses_Jd8tUyvhXO","name":"standup-2024-06-10","outputMode":"COMPOSED","resolution":"1280x720","fra'
        b'meRate":25,"recordingLayout":"BEST_FIT","hasAudio":true,"hasVideo":true,"size":48213577,"status"'
        b':"ready","event":"recordingStatusChanged"}'
    ),
    "recordingStopped": (
        b'{"sessionId":"ses_Jd8tUyvhXO","uniqueSessionId":"ses_Jd8tUyvhXO_1718012345678","timestamp":17180'
        b'13000321,"startTime":1718012400017,"duration":0.0,"reason":"recordingStoppedByServer","id":"ses_'
        b'Jd8tUyvhXO","name":"standup-2024-06-10","outputMode":"COMPOSED","resolution":"1280x720","frameRa'
        b'te":25,"recordingLayout":"BEST_FIT","hasAudio":true,"hasVideo":true,"size":0,"event":"recordingS'
        b'topped"}'
    ),
    "sessionCreated": (
        b'{"sessionId":"ses_Jd8tUyvhXO","uniqueSessionId":"ses_Jd8tUyvhXO_1718012345678","timestamp":17180'
        b'12345678,"event":"sessionCreated"}'
    ),
    "sessionDestroyed": (
        b'{"sessionId":"ses_Jd8tUyvhXO","uniqueSessionId":"ses_Jd8tUyvhXO_1718012345678","timestamp":17180'
        b'13051420,"startTime":1718012345678,"duration":705,"reason":"lastParticipantLeft","event":"sessio'
        b'nDestroyed"}'
    ),
    "signalSent": (
        b'{"sessionId":"ses_Jd8tUyvhXO","uniqueSessionId":"ses_Jd8tUyvhXO_1718012345678","timestamp":17180'
        b'12470332,"from":"con_EIeO06zgMz","to":["con_EIeO06zgMz","con_ThN5Rgi8Y8"],"type":"my-chat","data'
        b'":"{\\"message\\":\\"Hello!\\",\\"name\\":\\"Alice\\"}","event":"signalSent"}'
    ),
    "webrtcConnectionCreated": (
        b'{"sessionId":"ses_Jd8tUyvhXO","uniqueSessionId":"ses_Jd8tUyvhXO_1718012345678","timestamp":17180'
        b'12360512,"streamId":"str_CAM_Gpdf_con_EIeO06zgMz","participantId":"con_ThN5Rgi8Y8","connectionId'
        b'":"con_ThN5Rgi8Y8","connection":"INBOUND","receivingFrom":"con_EIeO06zgMz","videoSource":"CAMERA'
        b'","videoFramerate":30,"videoDimensions":"{\\"width\\":1280,\\"height\\":720}","audioEnabled":true,"v'
        b'ideoEnabled":true,"event":"webrtcConnectionCreated"}'
    ),
    "webrtcConnectionDestroyed": (
        b'{"sessionId":"ses_Jd8tUyvhXO","uniqueSessionId":"ses_Jd8tUyvhXO_1718012345678","timestamp":17180'
        b'13044873,"startTime":1718012360512,"duration":684,"reason":"unsubscribe","streamId":"str_CAM_Gpd'
        b'f_con_EIeO06zgMz","participantId":"con_ThN5Rgi8Y8","connectionId":"con_ThN5Rgi8Y8","connection":'
        b'"INBOUND","receivingFrom":"con_EIeO06zgMz","videoSource":"CAMERA","videoFramerate":30,"videoDime'
        b'nsions":"{\\"width\\":1280,\\"height\\":720}","audioEnabled":true,"videoEnabled":true,"event":"webrt'
        b'cConnectionDestroyed"}'
    ),
}

LIVEKIT: dict[str, bytes] = {
    "agent_job_ended": (
        b'{"event":"agent_job_ended","room":{"sid":"RM_ZkH6sBqTwXyA","name":"daily-standup"},"job":{"id":"'
        b'AJ_Hs5dK8fL2qWe","dispatchId":"AD_Mz3xN7cB1vRt","room":{"sid":"RM_ZkH6sBqTwXyA","name":"daily-st'
        b'andup"},"agentName":"speech-processing","state":{"status":"JS_SUCCESS","startedAt":"171801234601'
        b'0553211","endedAt":"1718013371402118736","updatedAt":"1718013371402118736","workerId":"AW_Pl9oI8'
        b'uY7tRe"}},"id":"EV_Bv2nM4qW6eRt","createdAt":"1718013371"}'
    ),
    "agent_job_started": (
        b'{"event":"agent_job_started","room":{"sid":"RM_ZkH6sBqTwXyA","name":"daily-standup"},"job":{"id"'
        b':"AJ_Hs5dK8fL2qWe","dispatchId":"AD_Mz3xN7cB1vRt","room":{"sid":"RM_ZkH6sBqTwXyA","name":"daily-'
        b'standup"},"agentName":"speech-processing","state":{"status":"JS_RUNNING","startedAt":"1718012346'
        b'010553211","updatedAt":"1718012346010553211","workerId":"AW_Pl9oI8uY7tRe"}},"id":"EV_Rk6tY3uJ9iO'
        b'l","createdAt":"1718012346"}'
    ),
    "egress_ended": (
        b'{"event":"egress_ended","room":{"sid":"RM_ZkH6sBqTwXyA","name":"daily-standup"},"egressInfo":{"e'
        b'gressId":"EG_Xr7Qm2LpV9sN","roomId":"RM_ZkH6sBqTwXyA","roomName":"daily-standup","status":"EGRES'
        b'S_COMPLETE","startedAt":"1718012402871203558","endedAt":"1718013003054210771","updatedAt":"17180'
        b'13003054210771","roomComposite":{"roomName":"daily-standup","layout":"grid","fileOutputs":[{"fil'
        b'eType":"MP4","filepath":"daily-standup/{room_name}-{time}.mp4"}]},"fileResults":[{"filename":"da'
        b'ily-standup/daily-standup-2024-06-10T094002.mp4","startedAt":"1718012402871203558","endedAt":"17'
        b'18013003054210771","duration":"600183007213","size":"48213577","location":"https://openvidu.exam'
        b'ple.com/openvidu-appdata/daily-standup/daily-standup-2024-06-10T094002.mp4"}]},"id":"EV_Wd9eR3tY'
        b'u6Io","createdAt":"1718013003"}'
    ),
    "egress_started": (
        b'{"event":"egress_started","room":{"sid":"RM_ZkH6sBqTwXyA","name":"daily-standup"},"egressInfo":{'
        b'"egressId":"EG_Xr7Qm2LpV9sN","roomId":"RM_ZkH6sBqTwXyA","roomName":"daily-standup","updatedAt":"'
        b'1718012400104385922","roomComposite":{"roomName":"daily-standup","layout":"grid","fileOutputs":['
        b'{"fileType":"MP4","filepath":"daily-standup/{room_name}-{time}.mp4"}]}},"id":"EV_Zt6bN1cYw8Ue","'
        b'createdAt":"1718012400"}'
    ),
    "egress_updated": (
        b'{"event":"egress_updated","room":{"sid":"RM_ZkH6sBqTwXyA","name":"daily-standup"},"egressInfo":{'
        b'"egressId":"EG_Xr7Qm2LpV9sN","roomId":"RM_ZkH6sBqTwXyA","roomName":"daily-standup","status":"EGR'
        b'ESS_ACTIVE","startedAt":"1718012402871203558","updatedAt":"1718012402871203558","roomComposite":'
        b'{"roomName":"daily-standup","layout":"grid","fileOutputs":[{"fileType":"MP4","filepath":"daily-s'
        b'tandup/{room_name}-{time}.mp4"}]},"fileResults":[{"filename":"daily-standup/daily-standup-2024-0'
        b'6-10T094002.mp4","startedAt":"1718012402871203558"}]},"id":"EV_Jm2dF7gHs4Qa","createdAt":"171801'
        b'2402"}'
    ),
    "ingress_ended": (
        b'{"event":"ingress_ended","room":{"name":"live-show"},"ingressInfo":{"ingressId":"IN_Lr4Tz8QwE2mK'
        b'","name":"obs-main","streamKey":"x7Hk2Qp9LmT4","url":"rtmp://openvidu.example.com:1935/rtmp","au'
        b'dio":{"name":"audio","source":"MICROPHONE"},"video":{"name":"video","source":"CAMERA"},"roomName'
        b'":"live-show","participantIdentity":"obs-publisher","participantName":"OBS Studio","reusable":tr'
        b'ue,"state":{"status":"ENDPOINT_INACTIVE","roomId":"RM_Lv7sHw2QcK9p","startedAt":"171801400051233'
        b'4108","endedAt":"1718017600901772450","updatedAt":"1718017600901772450","resourceId":"RT_c5Dq8Yr'
        b'1Vn3W"}},"id":"EV_Qa8sD0fG2hJk","createdAt":"1718017600"}'
    ),
    "ingress_started": (
        b'{"event":"ingress_started","room":{"name":"live-show"},"ingressInfo":{"ingressId":"IN_Lr4Tz8QwE2'
        b'mK","name":"obs-main","streamKey":"x7Hk2Qp9LmT4","url":"rtmp://openvidu.example.com:1935/rtmp","'
        b'audio":{"name":"audio","source":"MICROPHONE"},"video":{"name":"video","source":"CAMERA"},"roomNa'
        b'me":"live-show","participantIdentity":"obs-publisher","participantName":"OBS Studio","reusable":'
        b'true,"state":{"status":"ENDPOINT_PUBLISHING","video":{"mimeType":"video/H264","averageBitrate":4'
        b'500000,"width":1920,"height":1080,"framerate":30},"audio":{"mimeType":"audio/aac","averageBitrat'
        b'e":160000,"channels":2,"sampleRate":48000},"roomId":"RM_Lv7sHw2QcK9p","startedAt":"1718014000512'
        b'334108","updatedAt":"1718014000512334108","resourceId":"RT_c5Dq8Yr1Vn3W"}},"id":"EV_Ux2iO4pA6sDf'
        b'","createdAt":"1718014000"}'
    ),
    "participant_connection_aborted": (
        b'{"event":"participant_connection_aborted","room":{"sid":"RM_ZkH6sBqTwXyA","name":"daily-standup"'
        b',"emptyTimeout":300,"departureTimeout":20,"creationTime":"1718012345","creationTimeMs":"17180123'
        b'45123","turnPassword":"Yk3aV9qLw2Rt8ZpXs1NcBd4HfJm6Ue0TgW7oPiRs","enabledCodecs":[{"mime":"audio'
        b'/opus"},{"mime":"audio/red"},{"mime":"video/VP8"},{"mime":"video/H264"},{"mime":"video/VP9"},{"m'
        b'ime":"video/AV1"}],"numParticipants":1,"numPublishers":1,"version":{"unixMicro":"171801251103457'
        b'1"}},"participant":{"sid":"PA_Tb3nM8vCx1Zq","identity":"bob","state":"DISCONNECTED","joinedAt":"'
        b'1718012498","joinedAtMs":"1718012498377","name":"Bob","version":1,"permission":{"canSubscribe":t'
        b'rue,"canPublish":true,"canPublishData":true},"disconnectReason":"JOIN_FAILURE"},"id":"EV_Ty4uI6o'
        b'P0aSd","createdAt":"1718012511"}'
    ),
    "participant_joined": (
        b'{"event":"participant_joined","room":{"sid":"RM_ZkH6sBqTwXyA","name":"daily-standup","emptyTimeo'
        b'ut":300,"departureTimeout":20,"creationTime":"1718012345","creationTimeMs":"1718012345123","turn'
        b'Password":"Yk3aV9qLw2Rt8ZpXs1NcBd4HfJm6Ue0TgW7oPiRs","enabledCodecs":[{"mime":"audio/opus"},{"mi'
        b'me":"audio/red"},{"mime":"video/VP8"},{"mime":"video/H264"},{"mime":"video/VP9"},{"mime":"video/'
        b'AV1"}],"numParticipants":1,"version":{"unixMicro":"1718012351402617"}},"participant":{"sid":"PA_'
        b'Hq2bC9xYtK3m","identity":"alice","state":"ACTIVE","metadata":"{\\"userId\\":4711}","joinedAt":"171'
        b'8012351","joinedAtMs":"1718012351388","name":"Alice","version":3,"permission":{"canSubscribe":tr'
        b'ue,"canPublish":true,"canPublishData":true},"attributes":{"role":"teacher"}},"id":"EV_8nWc4TqLz1'
        b'Hd","createdAt":"1718012351"}'
    ),
    "participant_left": (
        b'{"event":"participant_left","room":{"sid":"RM_ZkH6sBqTwXyA","name":"daily-standup","emptyTimeout'
        b'":300,"departureTimeout":20,"creationTime":"1718012345","creationTimeMs":"1718012345123","turnPa'
        b'ssword":"Yk3aV9qLw2Rt8ZpXs1NcBd4HfJm6Ue0TgW7oPiRs","enabledCodecs":[{"mime":"audio/opus"},{"mime'
        b'":"audio/red"},{"mime":"video/VP8"},{"mime":"video/H264"},{"mime":"video/VP9"},{"mime":"video/AV'
        b'1"}],"numParticipants":1,"numPublishers":1,"version":{"unixMicro":"1718013050112904"}},"particip'
        b'ant":{"sid":"PA_Hq2bC9xYtK3m","identity":"alice","state":"DISCONNECTED","tracks":[{"sid":"TR_AMa'
        b'1RbT7yQ2x","source":"MICROPHONE","mimeType":"audio/red","mid":"0","codecs":[{"mimeType":"audio/r'
        b'ed","mid":"0","cid":"a769975c-cf87-480a-b18a-4c4732cfacae"}],"stream":"camera","version":{"unixM'
        b'icro":"1718012352188020"},"audioFeatures":["TF_AUTO_GAIN_CONTROL","TF_ECHO_CANCELLATION","TF_NOI'
        b'SE_SUPPRESSION"],"backupCodecPolicy":"SIMULCAST"},{"sid":"TR_VCa8bN2kPq4W","type":"VIDEO","name"'
        b':"camera","width":1280,"height":720,"simulcast":true,"source":"CAMERA","layers":[{"width":320,"h'
        b'eight":180,"bitrate":150000},{"quality":"MEDIUM","width":640,"height":360,"bitrate":500000},{"qu'
        b'ality":"HIGH","width":1280,"height":720,"bitrate":1700000}],"mimeType":"video/VP8","mid":"1","co'
        b'decs":[{"mimeType":"video/VP8","mid":"1","cid":"6f2c7b8e-1d4a-4e0b-9c3f-2a7d5e8b1c90","layers":['
        b'{"width":320,"height":180,"bitrate":150000,"rid":"q"},{"quality":"MEDIUM","width":640,"height":3'
        b'60,"bitrate":500000,"spatialLayer":1,"rid":"h"},{"quality":"HIGH","width":1280,"height":720,"bit'
        b'rate":1700000,"spatialLayer":2,"rid":"f"}],"videoLayerMode":"ONE_SPATIAL_LAYER_PER_STREAM"}],"st'
        b'ream":"camera","version":{"unixMicro":"1718012352201345"}}],"metadata":"{\\"userId\\":4711}","join'
        b'edAt":"1718012351","joinedAtMs":"1718012351388","name":"Alice","version":9,"permission":{"canSub'
        b'scribe":true,"canPublish":true,"canPublishData":true},"isPublisher":true,"attributes":{"role":"t'
        b'eacher"},"disconnectReason":"CLIENT_INITIATED"},"id":"EV_Gh8jK2lQw3Er","createdAt":"1718013050"}'
    ),
    "room_finished": (
        b'{"event":"room_finished","room":{"sid":"RM_ZkH6sBqTwXyA","name":"daily-standup","emptyTimeout":3'
        b'00,"departureTimeout":20,"creationTime":"1718012345","creationTimeMs":"1718012345123","turnPassw'
        b'ord":"Yk3aV9qLw2Rt8ZpXs1NcBd4HfJm6Ue0TgW7oPiRs","enabledCodecs":[{"mime":"audio/opus"},{"mime":"'
        b'audio/red"},{"mime":"video/VP8"},{"mime":"video/H264"},{"mime":"video/VP9"},{"mime":"video/AV1"}'
        b'],"version":{"unixMicro":"1718013371220455"}},"id":"EV_Nb5mQ9wE2rTy","createdAt":"1718013371"}'
    ),
    "room_started": (
        b'{"event":"room_started","room":{"sid":"RM_ZkH6sBqTwXyA","name":"daily-standup","emptyTimeout":30'
        b'0,"departureTimeout":20,"creationTime":"1718012345","creationTimeMs":"1718012345123","turnPasswo'
        b'rd":"Yk3aV9qLw2Rt8ZpXs1NcBd4HfJm6Ue0TgW7oPiRs","enabledCodecs":[{"mime":"audio/opus"},{"mime":"a'
        b'udio/red"},{"mime":"video/VP8"},{"mime":"video/H264"},{"mime":"video/VP9"},{"mime":"video/AV1"}]'
        b',"version":{"unixMicro":"1718012345123456"}},"id":"EV_3xQbR7mKp2Zs","createdAt":"1718012345"}'
    ),
    "track_published": (
        b'{"event":"track_published","room":{"sid":"RM_ZkH6sBqTwXyA","name":"daily-standup"},"participant"'
        b':{"sid":"PA_Hq2bC9xYtK3m","identity":"alice"},"track":{"sid":"TR_VCa8bN2kPq4W","type":"VIDEO","n'
        b'ame":"camera","width":1280,"height":720,"simulcast":true,"source":"CAMERA","layers":[{"width":32'
        b'0,"height":180,"bitrate":150000},{"quality":"MEDIUM","width":640,"height":360,"bitrate":500000},'
        b'{"quality":"HIGH","width":1280,"height":720,"bitrate":1700000}],"mimeType":"video/VP8","mid":"1"'
        b',"codecs":[{"mimeType":"video/VP8","mid":"1","cid":"6f2c7b8e-1d4a-4e0b-9c3f-2a7d5e8b1c90","layer'
        b's":[{"width":320,"height":180,"bitrate":150000,"rid":"q"},{"quality":"MEDIUM","width":640,"heigh'
        b't":360,"bitrate":500000,"spatialLayer":1,"rid":"h"},{"quality":"HIGH","width":1280,"height":720,'
        b'"bitrate":1700000,"spatialLayer":2,"rid":"f"}],"videoLayerMode":"ONE_SPATIAL_LAYER_PER_STREAM"}]'
        b',"stream":"camera","version":{"unixMicro":"1718012352201345"}},"id":"EV_Pq5vK2mXa9Rt","createdAt'
        b'":"1718012352"}'
    ),
    "track_unpublished": (
        b'{"event":"track_unpublished","room":{"sid":"RM_ZkH6sBqTwXyA","name":"daily-standup"},"participan'
        b't":{"sid":"PA_Hq2bC9xYtK3m","identity":"alice"},"track":{"sid":"TR_AMa1RbT7yQ2x","source":"MICRO'
        b'PHONE","mimeType":"audio/red","mid":"0","codecs":[{"mimeType":"audio/red","mid":"0","cid":"a7699'
        b'75c-cf87-480a-b18a-4c4732cfacae"}],"stream":"camera","version":{"unixMicro":"1718012352188020"},'
        b'"audioFeatures":["TF_AUTO_GAIN_CONTROL","TF_ECHO_CANCELLATION","TF_NOISE_SUPPRESSION"],"backupCo'
        b'decPolicy":"SIMULCAST"},"id":"EV_Fk1lZ5xCv7Bn","createdAt":"1718013049"}'
    ),
}
