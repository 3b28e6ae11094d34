# A small Shiny app for the end-to-end tests: it names the node (NODE_NAME) that serves the session
# and reacts to a slider, and it reconnects by itself when its WebSocket drops.
library(shiny)

node <- Sys.getenv("NODE_NAME", "unnamed")

ui <- fluidPage(
  titlePanel("stickylb e2e"),
  sliderInput("n", "n", min = 1, max = 100, value = 10),
  tags$p("node: ", textOutput("node", inline = TRUE)),
  tags$p("double: ", textOutput("double", inline = TRUE)),
  tags$p("session: ", textOutput("session", inline = TRUE))
)

server <- function(input, output, session) {
  session$allowReconnect("force")
  output$node <- renderText(node)
  output$double <- renderText(input$n * 2)
  output$session <- renderText(session$token)
}

shinyApp(ui, server)
