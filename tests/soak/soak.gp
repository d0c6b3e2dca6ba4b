# gnuplot script for `make soak`: gnuplot -e "csv='soak.csv'; png='soak.png'" soak.gp
# Panels share the time axis (minutes); a leak shows as a rising line.
set datafile separator ","
set terminal pngcairo noenhanced size 1000,1000 font "sans,10"
set output png
set multiplot layout 3,1 title "chat soak: mixed load (connection churn, fan-out, typing, HTTP)"
set grid
set key top left
set xlabel "minutes"
set ylabel "RSS (MiB)"
set yrange [0:*]
plot csv using ($1/60):($2/1024) skip 1 with lines lw 2 title "chat-relay RSS", \
     csv using ($1/60):($4/1024) skip 1 with lines lw 2 title "chat-api RSS"
set ylabel "count"
plot csv using ($1/60):3 skip 1 with lines lw 2 title "chat-relay open fds", \
     csv using ($1/60):5 skip 1 with lines lw 2 title "chat-api open fds", \
     csv using ($1/60):7 skip 1 with lines lw 2 title "DB connections (Threads_connected)"
set ylabel "connections"
set y2label "events behind"
set y2tics
set y2range [0:*]
plot csv using ($1/60):12 skip 1 with lines lw 2 title "relay connections (sampled)", \
     csv using ($1/60):11 skip 1 axes x1y2 with linespoints pt 7 ps 0.5 title "reader lag: MAX(chat_events.id) - relay last_event_id (right)"
unset multiplot
